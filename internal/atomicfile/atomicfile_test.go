package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func fill(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func TestNoReplaceKeepsWhatIsThereAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a")
	if err := WriteWith(p, Options{Perm: 0o600, NoReplace: true}, fill("first")); err != nil {
		t.Fatal(err)
	}
	err := WriteWith(p, Options{Perm: 0o600, NoReplace: true}, fill("second"))
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want fs.ErrExist", err)
	}
	if data, _ := os.ReadFile(p); string(data) != "first" {
		t.Fatalf("content %q, want the first", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the file", len(entries))
	}
	// Write still replaces.
	if err := WriteFile(p, []byte("third"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); string(data) != "third" {
		t.Fatalf("content %q", data)
	}
}

func TestOwnerIsSetBeforeTheFileGetsItsName(t *testing.T) {
	p := filepath.Join(t.TempDir(), "owned")
	if err := WriteWith(p, Options{Perm: 0o640, Owner: &Owner{UID: 4321, GID: 5432}}, fill("x")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 4321 || st.Gid != 5432 || fi.Mode().Perm() != 0o640 {
		t.Fatalf("%d:%d %04o, want 4321:5432 0640", st.Uid, st.Gid, fi.Mode().Perm())
	}
}
