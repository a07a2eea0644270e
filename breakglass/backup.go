package breakglass

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Backup is a verified copy of files from a data dir, kept in the state dir
// until the operator removes it. SHA256SUMS in Dir lists every file.
type Backup struct {
	Dir   string            `json:"dir"`
	Bytes int64             `json:"bytes"`
	Files map[string]string `json:"files"` // relative path -> sha256
}

// freeBytes is what an unprivileged writer may still use on dir's filesystem.
func freeBytes(dir string) (uint64, uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return st.Bavail * uint64(st.Bsize), uint64(st.Fsid.X__val[0])<<32 | uint64(uint32(st.Fsid.X__val[1])), nil
}

// existingParent is the nearest directory of p that exists (the backup dir
// is created only once the check passed).
func existingParent(p string) string {
	for {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

// SpaceNeed is bytes to be written to the filesystems of some directories.
type SpaceNeed struct {
	Dir   string `json:"dir"`
	Bytes int64  `json:"bytes"`
}

// CheckSpace refuses (fault.Refused) when the needs, summed per filesystem,
// exceed what is free there. It changes nothing.
func CheckSpace(needs ...SpaceNeed) error {
	type fsNeed struct {
		free  uint64
		need  int64
		where []string
	}
	byFS := map[uint64]*fsNeed{}
	var order []uint64
	for _, n := range needs {
		dir := existingParent(n.Dir)
		free, id, err := freeBytes(dir)
		if err != nil {
			return fmt.Errorf("free space of %s: %w", dir, err)
		}
		f := byFS[id]
		if f == nil {
			f = &fsNeed{free: free}
			byFS[id] = f
			order = append(order, id)
		}
		f.need += n.Bytes
		f.where = append(f.where, n.Dir)
	}
	for _, id := range order {
		f := byFS[id]
		if uint64(f.need) > f.free {
			return fault.Mark(fmt.Errorf("not enough free space: %s need %d bytes, %d free there; nothing changed", strings.Join(f.where, " and "), f.need, f.free), fault.Refused)
		}
	}
	return nil
}

// treeBytes sums the regular files under dir (or the file dir itself).
func treeBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// newBackupDir is <state>/backups/<kind>-<time>.
func newBackupDir(stateDir, kind string) string {
	return filepath.Join(stateDir, "backups", kind+"-"+time.Now().UTC().Format("20060102T150405.000Z"))
}

// BackupFiles copies src (a data dir, or one file) into dst, checksumming
// each file as it is read and verifying the copy by reading it back; the
// sums go to dst/SHA256SUMS. The caller checked the space.
func BackupFiles(src, dst string) (*Backup, error) {
	b := &Backup{Dir: dst, Files: map[string]string{}}
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	base := src
	if !st.IsDir() {
		base = filepath.Dir(src)
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		sum, n, err := copyFileSum(p, target)
		if err != nil {
			return err
		}
		b.Files[rel], b.Bytes = sum, b.Bytes+n
		return nil
	})
	if err != nil {
		return b, err
	}
	var lines []string
	for rel, sum := range b.Files {
		lines = append(lines, sum+"  "+rel+"\n")
	}
	sort.Strings(lines)
	return b, atomicfile.WriteFile(filepath.Join(dst, "SHA256SUMS"), []byte(strings.Join(lines, "")), 0o600)
}

func copyFileSum(src, dst string) (string, int64, error) {
	return copyFileWith(src, dst, atomicfile.Options{Perm: 0o600})
}

// copyLike replaces dst with a verified copy of src, keeping st's mode and,
// as root, its owner.
func copyLike(src, dst string, st os.FileInfo) (string, int64, error) {
	o := atomicfile.Options{Perm: st.Mode().Perm()}
	if s, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		o.Owner = &atomicfile.Owner{UID: int(s.Uid), GID: int(s.Gid)}
	}
	return copyFileWith(src, dst, o)
}

func copyFileWith(src, dst string, o atomicfile.Options) (string, int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", 0, err
	}
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	h := sha256.New()
	var n int64
	err = atomicfile.WriteWith(dst, o, func(w io.Writer) error {
		var err error
		n, err = io.Copy(w, io.TeeReader(in, h))
		return err
	})
	if err != nil {
		return "", 0, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	back, err := FileSHA256(dst)
	if err != nil {
		return "", 0, err
	}
	if back != sum {
		return "", 0, fmt.Errorf("backup %s does not verify (sha256 %s, source %s)", dst, back[:12], sum[:12])
	}
	return sum, n, nil
}
