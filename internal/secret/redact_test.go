package secret

import "testing"

func TestRedactReplacesEverySecretVariablesValue(t *testing.T) {
	env := map[string]string{"ETCDCTL_PASSWORD": "hunter22", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI", "HOME": "/root", "AZURE_CLIENT_SECRET": "abc"}
	got := Redact("auth hunter22 failed for wJalrXUtnFEMI at /root (abc)", func(k string) string { return env[k] })
	if want := "auth [redacted] failed for [redacted] at /root (abc)"; got != want {
		t.Fatalf("Redact: %q, want %q (a non-secret variable and a value under 4 bytes are left)", got, want)
	}
}

func TestWithoutUserInfo(t *testing.T) {
	for in, want := range map[string]string{
		"http://root:pw@10.0.0.1:2379": "http://10.0.0.1:2379",
		"root:pw/x:y@10.0.0.1:2379":    "10.0.0.1:2379",
		"s3://AKIA:x@secret@bucket/p":  "s3://bucket/p",
		"https://10.0.0.1:2379":        "https://10.0.0.1:2379",
		"file:///backups/etcd@prod":    "file:///backups/etcd@prod",
		"10.0.0.1:2379":                "10.0.0.1:2379",
	} {
		if got := WithoutUserInfo(in); got != want {
			t.Errorf("WithoutUserInfo(%q) = %q, want %q", in, got, want)
		}
	}
}
