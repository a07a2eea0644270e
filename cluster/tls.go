package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
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

// probeTLS is the client TLS configuration for a diagnostic handshake to
// serverName: ours, offering HTTP/2 as gRPC does. asked records whether the
// server requested a client certificate, the one way to tell "none given"
// from other rejections under TLS 1.2, where both are a bare alert.
func (c *Cluster) probeTLS(serverName string, asked *bool) *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.tls != nil {
		tc = c.tls.Clone()
	}
	tc.ServerName = serverName
	tc.NextProtos = []string{"h2", "http/1.1"}
	certs := tc.Certificates
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		*asked = true
		if len(certs) > 0 {
			return &certs[0], nil
		}
		return &tls.Certificate{}, nil
	}
	return tc
}

// explainTLS says what a failed handshake means for the user's flags.
func (c *Config) explainTLS(endpoint string, err error, askedForCert bool) error {
	if isRemoteAlert(err) && askedForCert {
		if c.Cert == "" {
			return fmt.Errorf("%s: %w: the server requires a client certificate (--cert/--key)", endpoint, ErrTLS)
		}
		return fmt.Errorf("%s: %w: the server rejected the client certificate %s (is it signed by a CA the server trusts?): %v", endpoint, ErrTLS, c.Cert, err)
	}
	return fmt.Errorf("%s: %w: %s: %v", endpoint, ErrTLS, c.describeTLSFailure(), err)
}

// isX509 reports whether our side rejected the server's certificate.
func isX509(err error) bool {
	var verify *tls.CertificateVerificationError
	return errors.As(err, &verify) || strings.Contains(err.Error(), "x509:")
}
