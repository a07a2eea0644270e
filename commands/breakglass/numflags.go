package breakglass

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
)

// Ranges of the numeric flags. A value outside is a usage error, never
// clamped: a filter that silently stops filtering (an age that overflows a
// duration, a NaN rate) would purge or ramp more than was asked.
const (
	maxPageSize = 10000          // keys per read: bounded memory, a page etcd serves in one go
	maxSteps    = 100            // a ramp longer than that is a typo
	maxInterval = 24 * time.Hour // per ramp step
	maxWait     = time.Hour      // etcd-only --wait
	maxInflight = math.MaxInt32  // the apiserver's flags are ints; no more than int32 is meaningful
	maxAge      = 100 * 365 * 24 * time.Hour
)

// intIn is a usage error unless lo ≤ v ≤ hi.
func intIn(flag string, v, lo, hi int) error {
	if v < lo || v > hi {
		return cmdutil.UsageError(fmt.Errorf("--%s %d: want %d to %d", flag, v, lo, hi))
	}
	return nil
}

// finite is a usage error for NaN, ±Inf or a value below lo (or not above
// it, when open).
func finite(flag string, v, lo float64, open bool) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || (open && v == lo) {
		cmp := "≥"
		if open {
			cmp = ">"
		}
		return cmdutil.UsageError(fmt.Errorf("--%s %v: want a finite number %s %v", flag, v, cmp, lo))
	}
	return nil
}

func durationIn(flag string, v, lo, hi time.Duration) error {
	if v < lo || v > hi {
		return cmdutil.UsageError(fmt.Errorf("--%s %s: want %s to %s", flag, v, lo, hi))
	}
	return nil
}

// Compiled on first use: a package-level regexp is compiled at start-up by
// every command, which this one is not.
var days = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+(\.[0-9]+)?d$`) })

// ParseAge reads a Go duration or a number of days ("7d", "1.5d"), at most
// 100 years. Days are plain decimals: ParseFloat would also take NaN, Inf,
// 1e300 and hex, and a duration that overflows turns the filter off.
func ParseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	bad := fmt.Errorf("--older-than %q: want a duration like 36h or 7d, at most %s", s, "36500d")
	var v time.Duration
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if !days().MatchString(s) {
			return 0, bad
		}
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n*24*float64(time.Hour) > float64(maxAge) {
			return 0, bad
		}
		v = time.Duration(n * 24 * float64(time.Hour))
	} else {
		var err error
		if v, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if v < 0 || v > maxAge {
		return 0, bad
	}
	return v, nil
}
