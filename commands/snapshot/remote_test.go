package snapshot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

type remoteSaveJSON struct {
	Save struct {
		Path     string `json:"path"`
		Metadata struct {
			File, ClusterID, SHA256 string
			Revision                int64
			Size                    int64
			TotalKeys               int
			Verified, Encrypted     bool
			Recipients              []string
			HashKV                  uint32 `json:"hashKV"`
		} `json:"metadata"`
		KeptLocal      string   `json:"keptLocal"`
		AbortedUploads []string `json:"abortedUploads"`
		Upload         string   `json:"upload"`
	} `json:"save"`
	Error string `json:"error"`
}

func readAllLimited(r io.Reader) ([]byte, error) { return io.ReadAll(io.LimitReader(r, 1<<30)) }
func bytesReader(b []byte) io.ReadSeeker         { return bytes.NewReader(b) }

// withName puts a snapshot's name at the end of a destination URL's path.
// sameURL: the same object and the same query values, in any order or escaping.
func sameURL(a, b string) bool {
	ua, erra := url.Parse(a)
	ub, errb := url.Parse(b)
	return erra == nil && errb == nil && ua.Scheme == ub.Scheme && ua.Host == ub.Host &&
		path.Clean(ua.Path) == path.Clean(ub.Path) && maps.EqualFunc(ua.Query(), ub.Query(), slices.Equal)
}

func withName(u, name string) string {
	base, q, _ := strings.Cut(u, "?")
	out := strings.TrimSuffix(base, "/") + "/" + name
	if q != "" {
		out += "?" + q
	}
	return out
}

// noSecret fails when any output holds the S3 secret key.
func noSecret(t *testing.T, rs ...clitest.Result) {
	t.Helper()
	for _, r := range rs {
		if strings.Contains(r.Stdout+r.Stderr, minioSecret) {
			t.Fatalf("the secret key was printed:\n%s\n%s", r.Stdout, r.Stderr)
		}
	}
}

func saveRemote(t *testing.T, getenv func(string) string, args ...string) (remoteSaveJSON, clitest.Result) {
	t.Helper()
	r := clitest.Run(t, getenv, append([]string{"snapshot", "save", "-o", "json", "--command-timeout", "20s"}, args...)...)
	var out remoteSaveJSON
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("save output: %v", err)
	}
	if r.Code != 0 {
		t.Fatalf("save exit %d: %s", r.Code, r.Stderr)
	}
	return out, r
}

type drillJSON struct {
	Snapshot                              string
	Revision, ExpectedRevision, TotalKeys int64
	ExpectedKeys                          int
	HashKV                                uint32 `json:"hashKV"`
	ExpectedHashKV                        uint32 `json:"expectedHashKV"`
	RestoreSeconds, StartSeconds          float64
	Matched                               bool
	Problems                              []string
	Finished                              time.Time
}

func drill(t *testing.T, want int, args ...string) (drillJSON, clitest.Result) {
	t.Helper()
	r := clitest.Run(t, nil, append([]string{"snapshot", "drill", "-o", "json"}, args...)...)
	var out drillJSON
	if r.Stdout != "" {
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			t.Fatalf("drill output: %v", err)
		}
	}
	if r.Code != want {
		t.Fatalf("drill exit %d, want %d: %s", r.Code, want, r.Stderr)
	}
	return out, r
}

// TestRemoteRoundTripS3 is the acceptance path through a real MinIO:
// save --to, list, verify, drill, restore, and a real etcd started on the
// restored dir holds every key and value of the source at the snapshot's
// revision. No output holds the secret key.
func TestRemoteRoundTripS3(t *testing.T) {
	mc := startMinio(t)
	mc.createBucket("snaps")
	remoteRoundTrip(t, mc.url("snaps", "prod/etcd"), func(name string) {
		keys := mc.keys("snaps")
		want := map[string]bool{"prod/etcd/" + name: true, "prod/etcd/" + name + ".meta.json": true}
		if len(keys) != 2 || !want[keys[0]] || !want[keys[1]] {
			t.Fatalf("objects after save: %v (the temporary upload must be gone)", keys)
		}
		if u := mc.uploads("snaps"); len(u) != 0 {
			t.Fatalf("multipart uploads left: %v", u)
		}
		// The object carries S3's sha256 checksum (the composite of its
		// parts), the one the .meta.json records, and the revision.
		var meta struct {
			Revision int64
			Checksum string `json:"objectChecksumSha256"`
			PartSize int64  `json:"partSize"`
		}
		if err := json.Unmarshal(mc.get("snaps", "prod/etcd/"+name+".meta.json"), &meta); err != nil {
			t.Fatal(err)
		}
		head, err := mc.client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("snaps"),
			Key: aws.String("prod/etcd/" + name), ChecksumMode: s3types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if meta.Checksum == "" || aws.ToString(head.ChecksumSHA256) != meta.Checksum || meta.PartSize == 0 {
			t.Fatalf("object checksum %q, metadata says %q (part size %d)", aws.ToString(head.ChecksumSHA256), meta.Checksum, meta.PartSize)
		}
		if got := head.Metadata["etcdmedic-revision"]; got != fmt.Sprint(meta.Revision) {
			t.Fatalf("object metadata revision %q, want %d", got, meta.Revision)
		}
	})
}

// TestRemoteRoundTripFile is the same path through file://.
func TestRemoteRoundTripFile(t *testing.T) {
	dir := t.TempDir()
	remoteRoundTrip(t, "file://"+dir, func(name string) {
		des, _ := os.ReadDir(dir)
		var got []string
		for _, de := range des {
			switch {
			case de.Name() == ".etcdmedic-upload":
				// fileblob leaves the directory; it must be empty.
				if left, _ := os.ReadDir(filepath.Join(dir, de.Name())); len(left) != 0 {
					t.Fatalf("upload directory not empty after save: %v", left)
				}
			case !strings.HasSuffix(de.Name(), ".attrs"):
				got = append(got, de.Name())
			}
		}
		if len(got) != 2 || got[0] != name && got[1] != name {
			t.Fatalf("files after save: %v", got)
		}
	})
}

func remoteRoundTrip(t *testing.T, u string, checkObjects func(name string)) {
	bins := playgroundtest.ReleaseBinaries(t)
	etcdBin := bins[latest(bins, "v3.7")].Etcd
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 200, ConfigMaps: 40, Events: 100, Leases: 5, PodPadding: 300})
	cli := playgroundtest.Client(t, c)
	keepDir := t.TempDir()
	out, sr := saveRemote(t, env(c), "--to", u, "--compress", "--keep-local", keepDir)
	md := out.Save.Metadata
	name := path.Base(out.Save.Path)
	if !md.Verified || md.TotalKeys < 345 || md.Revision == 0 || md.HashKV == 0 {
		t.Fatalf("metadata %+v", md)
	}
	checkObjects(name)
	// A quiet member: the name was known as the stream began, so S3 got the
	// stream itself; other destinations a temporary key and a copy.
	if want := map[bool]string{true: "streamed", false: "copied"}[strings.HasPrefix(u, "s3://")]; out.Save.Upload != want {
		t.Fatalf("upload %q, want %q", out.Save.Upload, want)
	}
	if out.Save.KeptLocal == "" {
		t.Fatal("--keep-local kept nothing")
	}
	if r := clitest.Run(t, nil, "snapshot", "verify", out.Save.KeptLocal); r.Code != 0 {
		t.Fatalf("the kept local copy does not verify: exit %d", r.Code)
	}
	lr := clitest.Run(t, nil, "snapshot", "list", u, "-o", "json")
	var list struct {
		Snapshots []struct {
			Path, URL, State string
			Revision         int64
		}
	}
	if err := json.Unmarshal([]byte(lr.Stdout), &list); err != nil || lr.Code != 0 {
		t.Fatalf("list: exit %d, %v", lr.Code, err)
	}
	if len(list.Snapshots) != 1 || path.Base(list.Snapshots[0].Path) != name || list.Snapshots[0].State != "verified" {
		t.Fatalf("list: %+v", list.Snapshots)
	}
	// The listed url is the one to pass on: it keeps the destination's
	// query (MinIO's endpoint), which the path leaves out.
	if !sameURL(list.Snapshots[0].URL, withName(u, name)) {
		t.Fatalf("list: url %q, want %q", list.Snapshots[0].URL, withName(u, name))
	}
	vr := clitest.Run(t, nil, "snapshot", "verify", list.Snapshots[0].URL)
	if vr.Code != 0 {
		t.Fatalf("verify exit %d", vr.Code)
	}
	dr, drr := drill(t, 0, u)
	if !dr.Matched || dr.Revision != md.Revision || dr.TotalKeys != int64(md.TotalKeys) || dr.HashKV != md.HashKV {
		t.Fatalf("drill: %+v, metadata %+v", dr, md)
	}
	t.Logf("drill: restore %.2fs, start %.2fs", dr.RestoreSeconds, dr.StartSeconds)

	dataDir := filepath.Join(t.TempDir(), "data")
	peer := fmt.Sprintf("http://127.0.0.1:%d", playgroundtest.FreePort(t))
	rr := clitest.Run(t, nil, "snapshot", "restore", withName(u, name), "--data-dir", dataDir, "--name", "r1",
		"--initial-advertise-peer-urls", peer)
	if rr.Code != 0 {
		t.Fatalf("restore exit %d", rr.Code)
	}
	rcli := playgroundtest.ServeDataDir(t, etcdBin, dataDir, "r1", peer)
	equalMaps(t, dump(t, rcli, 0), dump(t, cli, md.Revision))
	noSecret(t, sr, lr, vr, drr, rr)
}

// TestRemoteEncrypted: an age-encrypted snapshot's object holds no plaintext
// of the source; verify without --identity says encrypted (exit 1), with it
// passes (0), with the wrong one cannot open it (3); drill and restore need it.
func TestRemoteEncrypted(t *testing.T) {
	mc := startMinio(t)
	mc.createBucket("enc")
	remoteEncrypted(t, mc.url("enc", ""), func(name string) []byte { return mc.get("enc", name) })
}

// TestRemoteEncryptedFile is the same through file://.
func TestRemoteEncryptedFile(t *testing.T) {
	dir := t.TempDir()
	remoteEncrypted(t, "file://"+dir, func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func remoteEncrypted(t *testing.T, u string, get func(name string) []byte) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	const knownKey, knownValue = "/registry/secrets/default/known-plaintext-key", "known-plaintext-value-7d1f"
	if _, err := cli.Put(context.Background(), knownKey, knownValue); err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	dir := t.TempDir()
	idFile, otherFile := filepath.Join(dir, "id.key"), filepath.Join(dir, "other.key")
	os.WriteFile(idFile, []byte("# test identity\n"+id.String()+"\n"), 0o600)
	os.WriteFile(otherFile, []byte(other.String()+"\n"), 0o600)

	out, sr := saveRemote(t, env(c), "--to", u, "--encrypt-to", id.Recipient().String())
	md := out.Save.Metadata
	name := path.Base(out.Save.Path)
	if !strings.HasSuffix(name, ".db.age") || !md.Encrypted || len(md.Recipients) != 1 || md.Recipients[0] != id.Recipient().String() {
		t.Fatalf("name %s, metadata %+v", name, md)
	}
	obj := get(name)
	if bytes.Contains(obj, []byte(knownKey)) || bytes.Contains(obj, []byte(knownValue)) {
		t.Fatal("the encrypted object holds plaintext of the source")
	}
	meta := get(name + ".meta.json")
	if bytes.Contains(meta, []byte(id.String())) || bytes.Contains(meta, []byte("AGE-SECRET-KEY")) {
		t.Fatal("the metadata holds a private key")
	}

	nv := clitest.Run(t, nil, "snapshot", "verify", withName(u, name))
	if nv.Code != 1 || !strings.Contains(nv.Stdout, "encrypted") || strings.Contains(nv.Stdout, "CORRUPTED") {
		t.Fatalf("verify without --identity: exit %d, want 1 and 'encrypted'", nv.Code)
	}
	// -o json says it too: encrypted, to whom (public keys only), opened or not.
	type verifyJSON struct {
		Snapshots []struct {
			Encrypted, Decrypted bool
			Recipients           []string
		}
	}
	jv := func(args ...string) verifyJSON {
		r := clitest.Run(t, nil, append([]string{"snapshot", "verify", "-o", "json", withName(u, name)}, args...)...)
		var v verifyJSON
		if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil || len(v.Snapshots) != 1 {
			t.Fatalf("verify -o json %v: exit %d, %v: %s", args, r.Code, err, r.Stdout)
		}
		if strings.Contains(r.Stdout, "AGE-SECRET-KEY") {
			t.Fatal("verify -o json printed a private key")
		}
		return v
	}
	want := []string{id.Recipient().String()}
	if v := jv().Snapshots[0]; !v.Encrypted || v.Decrypted || !slices.Equal(v.Recipients, want) {
		t.Fatalf("verify -o json without --identity: %+v, want encrypted to %v, not decrypted", v, want)
	}
	if v := jv("--identity", idFile).Snapshots[0]; !v.Encrypted || !v.Decrypted || !slices.Equal(v.Recipients, want) {
		t.Fatalf("verify -o json with --identity: %+v, want encrypted to %v, decrypted", v, want)
	}
	if r := clitest.Run(t, nil, "snapshot", "verify", withName(u, name), "--identity", idFile); r.Code != 0 {
		t.Fatalf("verify with --identity: exit %d", r.Code)
	}
	wr := clitest.Run(t, nil, "snapshot", "verify", withName(u, name), "--identity", otherFile)
	if wr.Code != 3 || strings.Contains(wr.Stderr+wr.Stdout, other.String()) {
		t.Fatalf("verify with a wrong identity: exit %d, want 3 (and no key printed)", wr.Code)
	}
	drill(t, 1, u)
	dr, _ := drill(t, 0, u, "--identity", idFile)
	if !dr.Matched || dr.Revision != md.Revision {
		t.Fatalf("drill: %+v", dr)
	}
	if r := clitest.Run(t, nil, "snapshot", "restore", withName(u, name), "--data-dir", filepath.Join(t.TempDir(), "d")); r.Code != 1 {
		t.Fatalf("restore without --identity: exit %d, want 1", r.Code)
	}
	// The plan's line for a member restores as printed: it carries the
	// identity the plan was given.
	peer := fmt.Sprintf("http://127.0.0.1:%d", playgroundtest.FreePort(t))
	pr := clitest.Run(t, nil, "snapshot", "restore", withName(u, name), "--plan", "-o", "json", "--data-dir", filepath.Join(t.TempDir(), "p"),
		"--initial-cluster", "r1="+peer, "--identity", idFile)
	var plan struct{ Members []struct{ Argv []string } }
	if err := json.Unmarshal([]byte(pr.Stdout), &plan); err != nil || pr.Code != 0 || len(plan.Members) != 1 {
		t.Fatalf("restore --plan: exit %d, %v: %s", pr.Code, err, pr.Stdout)
	}
	if r := clitest.Run(t, nil, plan.Members[0].Argv[1:]...); r.Code != 0 {
		t.Fatalf("the plan's line %q: exit %d: %s", plan.Members[0].Argv, r.Code, r.Stderr)
	}
	noSecret(t, sr, nv, wr)
}

// TestRemoteFlippedByte: one byte changed in the stored object makes verify
// and drill fail (exit 2), encrypted or not.
func TestRemoteFlippedByte(t *testing.T) {
	mc := startMinio(t)
	mc.createBucket("flip")
	remoteFlippedByte(t, func(p string) string { return mc.url("flip", p) }, func(key string) {
		b := mc.get("flip", key)
		b[len(b)/2] ^= 0x01
		mc.put("flip", key, b, nil)
	})
}

// TestRemoteFlippedByteFile is the same through file://.
func TestRemoteFlippedByteFile(t *testing.T) {
	dir := t.TempDir()
	remoteFlippedByte(t, func(p string) string {
		os.MkdirAll(filepath.Join(dir, p), 0o700)
		return "file://" + filepath.Join(dir, p)
	}, func(key string) {
		p := filepath.Join(dir, key)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		flip(t, p, fi.Size()/2)
	})
}

func remoteFlippedByte(t *testing.T, dest func(prefix string) string, corrupt func(key string)) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 50})
	// Over 16 MiB: the object is many of the download's 1 MiB buffers and
	// two of the upload's 8 MiB parts; the flipped byte is in the middle.
	cli := playgroundtest.Client(t, c)
	value := strings.Repeat("v", 1<<20)
	for i := 0; i < 18; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/big/%02d", i), value)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(t.TempDir(), "id.key")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			prefix := fmt.Sprintf("enc-%v", enc)
			u := dest(prefix)
			args := []string{"--to", u}
			if enc {
				args = append(args, "--encrypt-to", id.Recipient().String())
			}
			out, _ := saveRemote(t, env(c), args...)
			name := path.Base(out.Save.Path)
			if out.Save.Metadata.Size <= 16<<20 {
				t.Fatalf("the object holds %d bytes, want over 16 MiB", out.Save.Metadata.Size)
			}
			if r := clitest.Run(t, nil, "snapshot", "verify", withName(u, name), "--identity", idFile); r.Code != 0 {
				t.Fatalf("verify before the flip: exit %d: %s", r.Code, r.Stderr)
			}
			corrupt(prefix + "/" + name)
			if r := clitest.Run(t, nil, "snapshot", "verify", withName(u, name), "--identity", idFile); r.Code != 2 {
				t.Fatalf("verify of a flipped byte: exit %d, want 2", r.Code)
			}
			drill(t, 2, withName(u, name), "--identity", idFile)
		})
	}
}
