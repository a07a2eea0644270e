// Package secret keeps secret values out of what the tool prints.
package secret

import (
	"os"
	"strings"
)

// envVars are the variables whose values must never appear in output, even
// inside an error a library built: etcd's password and the object-storage
// clouds' keys and tokens.
var envVars = []string{
	"ETCDCTL_PASSWORD",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_SECRET",
	"MINIO_ROOT_PASSWORD",
}

// Redact replaces the value of every secret variable found in s.
// Values shorter than four bytes are left: they would redact ordinary words.
// getenv nil reads the process environment.
func Redact(s string, getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, k := range envVars {
		if v := getenv(k); len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}
