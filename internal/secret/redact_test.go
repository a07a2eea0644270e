package secret

import "testing"

func TestRedactReplacesEverySecretVariablesValue(t *testing.T) {
	env := map[string]string{"ETCDCTL_PASSWORD": "hunter22", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI", "HOME": "/root", "AZURE_CLIENT_SECRET": "abc"}
	got := Redact("auth hunter22 failed for wJalrXUtnFEMI at /root (abc)", func(k string) string { return env[k] })
	if want := "auth [redacted] failed for [redacted] at /root (abc)"; got != want {
		t.Fatalf("Redact: %q, want %q (a non-secret variable and a value under 4 bytes are left)", got, want)
	}
}
