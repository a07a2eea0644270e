package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSConfig builds the client TLS configuration, failing early and by file
// name on anything unreadable or mismatched: at 3 a.m. "tls: private key does
// not match public key" must say which files.
func (c *Config) TLSConfig() (*tls.Config, error) {
	if !c.UsesTLS() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipTLSVerify} //nolint:gosec // opt-in flag
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, configErrorf("read CA file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, configErrorf("CA file %s holds no PEM certificate", c.CACert)
		}
		tc.RootCAs = pool
	}
	if c.Cert != "" {
		if _, err := os.Stat(c.Cert); err != nil {
			return nil, configErrorf("read client certificate: %v", err)
		}
		if _, err := os.Stat(c.Key); err != nil {
			return nil, configErrorf("read client key: %v", err)
		}
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, configErrorf("load client certificate %s with key %s: %v", c.Cert, c.Key, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// describeTLSFailure names the files involved in a handshake failure.
func (c *Config) describeTLSFailure() string {
	switch {
	case c.CACert != "":
		return fmt.Sprintf("TLS verification failed (CA file %s)", c.CACert)
	case c.InsecureSkipTLSVerify:
		return "TLS handshake failed"
	default:
		return "TLS verification failed (no --cacert given: the system CA pool was used)"
	}
}
