package breakglass_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	bgcmd "github.com/etcdmedic/etcdmedic/commands/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// Each step of a running ramp shows on stderr: written, the time left of its
// interval while it waits, its result. Gated on a real member and on its own
// /readyz (the flag floor of 20 s is the CLI's; RunRamp takes the options
// as they are, so the test need not wait minutes).
func TestRampShowsEachIntervalAsItGoes(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	root := fixtureRoot(t)
	writeCA(t, filepath.Join(root, "etc/kubernetes/pki/ca.crt"))
	for _, args := range [][]string{{"etcd-only"}, {"apiserver", "--localhost"}} {
		if r := clitest.Run(t, noEtcd, append(append([]string{"breakglass"}, args...), "--root", root, "--yes")...); r.Code != 0 {
			t.Fatalf("%v: exit %d", args, r.Code)
		}
	}
	ios, out, errOut := iostreams.Test()
	opts := &bgcmd.RampOptions{
		IO:     ios,
		Format: func() output.Format { return output.Table },
		OpenCluster: func() (*cluster.Cluster, error) {
			return cluster.Open(&cluster.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second}, nil)
		},
		Layout:    bgcmd.LayoutFlags{Root: root},
		To:        40,
		Steps:     2,
		Interval:  600 * time.Millisecond,
		Tick:      100 * time.Millisecond,
		ReadyzURL: c.Endpoints()[0] + "/readyz",
		FsyncP99:  5,
		ApplyGap:  1000,
	}
	opts.Yes = true
	if err := bgcmd.RunRamp(context.Background(), opts); err != nil {
		t.Fatalf("ramp: %v\nstdout %s\nstderr %s", err, out, errOut)
	}
	t.Logf("stderr:\n%s\nstdout:\n%s", errOut, out)
	progress := errOut.String()
	for _, want := range []string{
		"step 1/2: inflight 30/15 written; checking etcd and /readyz in",
		"step 1/2: inflight 30/15: ok",
		"step 2/2: inflight 40/20 written",
		"step 2/2: inflight 40/20: ok",
	} {
		if !strings.Contains(progress, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	for _, s := range []string{"step 1/2", "step 2/2"} {
		if !strings.Contains(progress, s+": inflight") || !strings.Contains(progress[strings.Index(progress, s):], "left before the check") {
			t.Errorf("no countdown for %s", s)
		}
	}
	bgFile, _ := os.ReadFile(filepath.Join(root, "etc/kubernetes/manifests/kube-apiserver.yaml"))
	if !strings.Contains(string(bgFile), "--max-requests-inflight=40") || !strings.Contains(string(bgFile), "--max-mutating-requests-inflight=20") {
		t.Fatalf("manifest not at 40/20:\n%s", bgFile)
	}
	if !strings.Contains(out.String(), "Undo: etcdmedic breakglass undo --root "+root) {
		t.Errorf("no undo line carrying --root")
	}
}

// writeCA writes a self-signed CA certificate: the ramp's /readyz client
// trusts the apiserver's --client-ca-file and must find one.
func writeCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
