package cmdutil

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"
)

// A Bound is one flag's range check: ok, or the one-line reason.
type Bound struct {
	ok     bool
	reason string
}

// Check returns a usage error (exit 64) for the first bound that does not hold.
func Check(bounds ...Bound) error {
	for _, b := range bounds {
		if !b.ok {
			return UsageError(fmt.Errorf("%s", b.reason))
		}
	}
	return nil
}

// DurationIn holds when lo ≤ d ≤ hi.
func DurationIn(flag string, d, lo, hi time.Duration) Bound {
	return Bound{d >= lo && d <= hi, fmt.Sprintf("--%s %s: want a duration from %s to %s", flag, d, lo, hi)}
}

// IntIn holds when lo ≤ n ≤ hi.
func IntIn(flag string, n, lo, hi int64) Bound {
	return Bound{n >= lo && n <= hi, fmt.Sprintf("--%s %d: want a whole number from %d to %d", flag, n, lo, hi)}
}

// RatioOpen holds for a finite 0 < r < 1.
func RatioOpen(flag string, r float64) Bound {
	return Bound{!math.IsNaN(r) && r > 0 && r < 1, fmt.Sprintf("--%s %v: want a ratio between 0 and 1, e.g. 0.8", flag, r)}
}

// NotEmpty holds for a non-empty value.
func NotEmpty(flag, v string) Bound {
	return Bound{v != "", fmt.Sprintf("--%s must not be empty", flag)}
}

// WritableDir holds when the directory a file will be written to exists and
// takes a new file now: a job must not find out after it did its work.
func WritableDir(flag, file string) Bound {
	if file == "" {
		return Bound{ok: true}
	}
	dir := filepath.Dir(file)
	f, err := os.CreateTemp(dir, ".etcdmedic-check-*")
	if err != nil {
		return Bound{false, fmt.Sprintf("--%s %s: cannot write in %s: %v", flag, file, dir, unwrapPath(err))}
	}
	f.Close()
	os.Remove(f.Name())
	return Bound{ok: true}
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
