package helm_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// apiServer is a real kube-apiserver on loopback, over a playground etcd,
// reached with a system:masters client certificate.
type apiServer struct {
	base       string
	hc         *http.Client
	kubeconfig string
	proc       *playgroundtest.Process
}

func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	bin := playgroundtest.KubeAPIServer(t)
	etcd := playgroundtest.Start(t, playground.Options{Members: 1})
	dir := t.TempDir()
	pki := newPKI(t, dir)
	port := playgroundtest.FreePort(t)
	args := []string{
		"--etcd-servers=" + etcd.Endpoints()[0],
		"--bind-address=127.0.0.1", "--advertise-address=" + playgroundtest.HostIP(),
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + pki.serving[0], "--tls-private-key-file=" + pki.serving[1],
		"--client-ca-file=" + pki.ca,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.sa[1], "--service-account-signing-key-file=" + pki.sa[0],
		"--service-cluster-ip-range=10.96.0.0/12",
		"--authorization-mode=AlwaysAllow",
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--enable-priority-and-fairness=false",
	}
	proc := playgroundtest.StartProcess(t, bin, args...)
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(pki.ca)
	pool.AppendCertsFromPEM(caPEM)
	admin, err := tls.LoadX509KeyPair(pki.admin[0], pki.admin[1])
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:%d", certificate-authority: %q}}]
users: [{name: admin, user: {client-certificate: %q, client-key: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, port, pki.ca, pki.admin[0], pki.admin[1])
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &apiServer{
		proc:       proc,
		kubeconfig: kubeconfig,
		base:       fmt.Sprintf("https://127.0.0.1:%d", port),
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, Certificates: []tls.Certificate{admin}, MinVersion: tls.VersionTLS12}}},
	}
	// Ready, and the system namespaces made by its bootstrap controller.
	a.proc.PollUntil(t, 3*time.Minute, func() error {
		if code, body, err := a.do("GET", "/readyz", nil); err != nil || code != 200 {
			return fmt.Errorf("/readyz: %d %s %v", code, body, err)
		}
		if code, body, err := a.do("GET", "/api/v1/namespaces/"+namespace, nil); err != nil || code != 200 {
			return fmt.Errorf("namespace %s: %d %s %v", namespace, code, body, err)
		}
		return nil
	})
	return a
}

// helmInstallDryRun is `helm install --dry-run=server` of everything on:
// helm reads the cluster's APIs (the chart's capability checks) and
// renders the notes; nothing is created.
func (a *apiServer) helmInstallDryRun(t *testing.T) string {
	t.Helper()
	out, err := helm(t, "install", "etcdmedic", chart, "--dry-run=server", "--namespace", namespace,
		"--kubeconfig", a.kubeconfig, "-f", everything)
	if err != nil {
		t.Fatalf("helm install --dry-run=server: %v\n%s", err, out)
	}
	return out
}

func (a *apiServer) do(method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// installCRDs creates the vendored prometheus-operator CRDs for real and
// waits until their API is served.
func (a *apiServer) installCRDs(t *testing.T) {
	t.Helper()
	files, err := filepath.Glob("testdata/crds/*.yaml")
	if err != nil || len(files) != 2 {
		t.Fatalf("CRD fixtures: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range decodeAll(t, string(b)) {
			js, _ := json.Marshal(obj)
			if code, body, err := a.do("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", js); err != nil || code != 201 {
				t.Fatalf("create CRD from %s: %d %v\n%s", f, code, err, body)
			}
		}
	}
	a.proc.PollUntil(t, time.Minute, func() error {
		_, err := a.resource("monitoring.coreos.com/v1", "PrometheusRule")
		if err == nil {
			_, err = a.resource("monitoring.coreos.com/v1", "ServiceMonitor")
		}
		return err
	})
}

type apiResource struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Namespaced bool   `json:"namespaced"`
}

// resource finds a kind's REST resource through discovery, as kubectl does.
func (a *apiServer) resource(apiVersion, kind string) (apiResource, error) {
	path := "/apis/" + apiVersion
	if !strings.Contains(apiVersion, "/") {
		path = "/api/" + apiVersion
	}
	code, body, err := a.do("GET", path, nil)
	if err != nil || code != 200 {
		return apiResource{}, fmt.Errorf("discovery %s: %d %v %s", path, code, err, body)
	}
	var list struct {
		Resources []apiResource `json:"resources"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return apiResource{}, err
	}
	for _, r := range list.Resources {
		if r.Kind == kind && !strings.Contains(r.Name, "/") {
			return r, nil
		}
	}
	return apiResource{}, fmt.Errorf("%s has no kind %s", apiVersion, kind)
}

// dryRunCreate sends one object with dryRun=All and strict field
// validation: an unknown or misplaced field, a bad duration in a
// PrometheusRule, an invalid label all come back as errors.
func (a *apiServer) dryRunCreate(obj map[string]any) error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	meta, _ := obj["metadata"].(map[string]any)
	r, err := a.resource(apiVersion, kind)
	if err != nil {
		return err
	}
	prefix := "/apis/" + apiVersion
	if !strings.Contains(apiVersion, "/") {
		prefix = "/api/" + apiVersion
	}
	path := prefix + "/" + r.Name
	if r.Namespaced {
		ns, _ := meta["namespace"].(string)
		if ns == "" {
			return fmt.Errorf("%s %v has no namespace", kind, meta["name"])
		}
		path = prefix + "/namespaces/" + ns + "/" + r.Name
	}
	js, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	code, body, err := a.do("POST", path+"?dryRun=All&fieldValidation=Strict", js)
	if err != nil {
		return err
	}
	if code != 201 && code != 200 {
		return fmt.Errorf("%s %v: %d %s", kind, meta["name"], code, body)
	}
	// Strict validation answers 201 with a warning for nothing: an error is
	// a 4xx. Make sure the server did validate what we sent.
	var back map[string]any
	if err := json.Unmarshal(body, &back); err != nil || back["kind"] != kind {
		return fmt.Errorf("%s %v: unexpected answer %s", kind, meta["name"], body)
	}
	return nil
}

func decodeAll(t *testing.T, docs string) []map[string]any {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(docs), 4096)
	var out []map[string]any
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if err == io.EOF {
				return out
			}
			t.Fatalf("decode rendered YAML: %v", err)
		}
		if len(obj) > 0 {
			out = append(out, obj)
		}
	}
}

type pkiFiles struct {
	ca                 string
	serving, admin, sa [2]string // cert (or private key for sa), key (or public key)
}

func newPKI(t *testing.T, dir string) pkiFiles {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "charttest-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	var p pkiFiles
	p.ca = write("ca.crt", "CERTIFICATE", caDER)
	issue := func(name string, serial int64, tmpl x509.Certificate) [2]string {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalPKCS8PrivateKey(key)
		return [2]string{write(name+".crt", "CERTIFICATE", der), write(name+".key", "PRIVATE KEY", kd)}
	}
	p.serving = issue("apiserver", 2, x509.Certificate{Subject: pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}})
	p.admin = issue("admin", 3, x509.Certificate{Subject: pkix.Name{CommonName: "charttest-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	saKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	skd, _ := x509.MarshalPKCS8PrivateKey(saKey)
	pkd, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	p.sa = [2]string{write("sa.key", "PRIVATE KEY", skd), write("sa.pub", "PUBLIC KEY", pkd)}
	return p
}
