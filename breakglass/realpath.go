package breakglass

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// resolveIn follows every symlink in p (a path under root) the way the node
// sees it when it boots from root: an absolute link target starts again at
// root, not at this machine's /, and ".." stops at root. Components that do
// not exist yet are kept as they are. The result is where the kernel, on
// that node, would put or find the file; acting on p itself could, with an
// absolute link on an attached disk, reach into this machine's own
// /etc/kubernetes.
func resolveIn(root, p string) (string, error) {
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is outside the root %s", p, root)
	}
	todo := strings.Split(rel, string(filepath.Separator))
	cur, hops := root, 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur != root {
				cur = filepath.Dir(cur)
			}
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if errors.Is(err, os.ErrNotExist) {
			// Nothing further to follow; the rest is created later.
			return filepath.Join(append([]string{next}, todo...)...), nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			cur = root
		}
		todo = append(strings.Split(target, string(filepath.Separator)), todo...)
	}
	return cur, nil
}

// sameOrInside says whether dir is ancestor or one of its sub-directories,
// by identity (device and inode) rather than by name: a bind mount or a
// link that resolveIn could not see still counts. dir need not exist; its
// nearest existing ancestor is what is compared.
func sameOrInside(dir, ancestor string) bool {
	a, err := os.Stat(ancestor)
	if err != nil {
		return inside(dir, ancestor)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && os.SameFile(st, a) {
			return true
		}
		if d == filepath.Dir(d) {
			return false
		}
	}
}
