package health

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// EarliestExpiry returns the certificate in a PEM file (a bundle may hold
// several) that expires first.
func EarliestExpiry(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var first *x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if first == nil || c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	if first == nil {
		return nil, fmt.Errorf("%s: %w", path, errNoCert)
	}
	return first, nil
}
