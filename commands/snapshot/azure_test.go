package snapshot_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// Azurite's well-known development account (published in its docs).
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azurite is a real Azurite blob service on 127.0.0.1, a random port and
// a temp dir.
type azurite struct {
	cmd  *exec.Cmd
	host string
}

func startAzurite(t *testing.T, containers ...string) *azurite {
	t.Helper()
	bin := cachedBinary(t, "ETCDMEDIC_AZURITE", filepath.Join("azurite", "3.35.0", "node_modules", ".bin", "azurite-blob"), "scripts/install-azurite.sh")
	dir := t.TempDir()
	port := playgroundtest.FreePort(t)
	a := &azurite{host: fmt.Sprintf("127.0.0.1:%d", port)}
	a.cmd = exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--location", dir,
		"--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry")
	logf, err := os.Create(filepath.Join(dir, "azurite.log"))
	if err != nil {
		t.Fatal(err)
	}
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.cmd.Process.Signal(syscall.SIGCONT)
		a.cmd.Process.Signal(syscall.SIGKILL)
		a.cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", a.host)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("azurite not listening: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Setenv("AZURE_STORAGE_ACCOUNT", azuriteAccount)
	t.Setenv("AZURE_STORAGE_KEY", azuriteKey)
	for _, name := range containers {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := a.client(t).CreateContainer(ctx, name, nil)
		cancel()
		if err != nil {
			t.Fatalf("create container %s: %v", name, err)
		}
	}
	return a
}

func (a *azurite) client(t *testing.T) *azblob.Client {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := azblob.NewClientWithSharedKeyCredential("http://"+a.host+"/"+azuriteAccount, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// url is an azblob:// destination on this emulator.
func (a *azurite) url(container, prefix string) string {
	return fmt.Sprintf("azblob://%s/%s?localemu=true&domain=%s&protocol=http", container, prefix, a.host)
}

// blobs lists a container's blob names.
func (a *azurite) blobs(t *testing.T, container string) []string {
	t.Helper()
	var names []string
	pager := a.client(t).NewListBlobsFlatPager(container, nil)
	for pager.More() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		page, err := pager.NextPage(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	slices.Sort(names)
	return names
}

// TestRemoteRoundTripAzure is the acceptance path through azblob://, against
// Azurite: save --to, list, verify, drill, restore, and etcd started on the
// restored dir holds every key of the source.
func TestRemoteRoundTripAzure(t *testing.T) {
	a := startAzurite(t, "snaps")
	remoteRoundTrip(t, a.url("snaps", "prod/etcd"), func(name string) {
		want := []string{"prod/etcd/" + name, "prod/etcd/" + name + ".meta.json"}
		if got := a.blobs(t, "snaps"); !slices.Equal(got, want) {
			t.Fatalf("blobs after save: %v, want %v (the temporary upload must be gone)", got, want)
		}
	})
}

// An Azure endpoint that hangs (SIGSTOPped: its connections stay open) ends
// a save within the idle bound, one line, exit 2 or 3, nothing under a final
// name; without the bound the SDK waited for good, and with it but its
// retries, 9 bounds.
func TestRemoteAzureHungEndpoint(t *testing.T) {
	a := startAzurite(t, "hung")
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r := clitest.Run(t, env(c), "snapshot", "save", "--to", a.url("hung", ""), "--stall-timeout", "2s")
	t.Logf("save to the hung endpoint: %s, exit %d: %s", r.Took, r.Code, r.Stderr)
	a.cmd.Process.Signal(syscall.SIGCONT)
	if r.Code != 2 && r.Code != 3 || errorLines(r.Stderr) != 1 {
		t.Fatalf("save to a hung endpoint: exit %d, stderr %q; want 2 or 3 and one line", r.Code, r.Stderr)
	}
	// A try ended by the idle bound is not made again: 18 s before, each
	// of the SDK's retries waiting the bound out.
	if r.Took > 4*2*time.Second {
		t.Fatalf("save to a hung endpoint took %s; the idle bound is 2s, and a stalled try is not retried", r.Took)
	}
	if strings.Contains(r.Stderr, azuriteKey) {
		t.Fatal("the account key was printed")
	}
	if b := a.blobs(t, "hung"); len(b) != 0 {
		t.Fatalf("blobs after the hang: %v", b)
	}
}

// An account without a key, token or identity that works: exit 3, one line
// naming what to set.
func TestAzureWithoutCredentials(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	for _, k := range []string{"AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING",
		"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AZURE_STORAGE_ACCOUNT", "someaccount")
	r := clitest.Run(t, nil, "snapshot", "list", "azblob://somecontainer/etcd")
	if r.Code != 3 || !strings.Contains(r.Stderr, "no Azure credentials worked: set AZURE_STORAGE_KEY") || errorLines(r.Stderr) != 1 {
		t.Fatalf("exit %d, stderr %q; want 3 and one line naming what to set", r.Code, r.Stderr)
	}
}
