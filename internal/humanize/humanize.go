// Package humanize renders sizes, ratios and durations for people. Machine
// output (JSON/YAML) never goes through here: it keeps bytes and seconds.
package humanize

import (
	"fmt"
	"math"
	"time"

	gohumanize "github.com/dustin/go-humanize"
)

// Bytes renders a size in IEC units (etcd quotas are powers of two: 2 GiB, 8 GiB).
func Bytes(n int64) string {
	if n < 0 {
		return "-" + gohumanize.IBytes(uint64(-n))
	}
	return gohumanize.IBytes(uint64(n))
}

// Percent renders a 0..1 ratio as a percentage with one decimal.
func Percent(ratio float64) string {
	if math.IsNaN(ratio) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", ratio*100)
}

// Seconds renders a latency in seconds at a precision that suits disk latencies.
func Seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", s*1e3)
	case d < time.Second:
		return fmt.Sprintf("%.0fms", s*1e3)
	default:
		return fmt.Sprintf("%.2fs", s)
	}
}

// Duration renders a wall-clock duration, rounded to what a person reads.
func Duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
