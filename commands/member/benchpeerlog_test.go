package member_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/playground"
)

// peerLog: BENCH_MEMBER_PEERLOG=1 runs the benchmark's members at etcd's
// info level and prints, after each replacement, when each member's peer
// streams became active or inactive and which member refused a member add:
// the evidence for where etcd's connectivity checks hold a step.
func peerLog() bool { return os.Getenv("BENCH_MEMBER_PEERLOG") != "" }

// peerEvents are the log lines that explain etcd's "unhealthy cluster".
var peerEvents = []string{"peer became active", "peer became inactive", "rejecting member add", "lost TCP streaming connection", "established TCP streaming connection", "received snapshot", "applied snapshot", "sent database snapshot"}

// printPeerLog prints every member's peer events since the offsets seen
// last, in time order, and moves the offsets on (quiet: only moves them).
func printPeerLog(c *playground.Cluster, seen map[string]int64, quiet bool) {
	if !peerLog() {
		return
	}
	type event struct{ ts, line string }
	var evs []event
	for _, m := range c.Members() {
		f, err := os.Open(m.LogPath())
		if err != nil {
			continue
		}
		if _, err := f.Seek(seen[m.Name], 0); err != nil {
			f.Close()
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var n int64
		for sc.Scan() {
			n += int64(len(sc.Bytes())) + 1
			var e map[string]any
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			msg, _ := e["msg"].(string)
			hit := false
			for _, p := range peerEvents {
				hit = hit || strings.Contains(msg, p)
			}
			if !hit {
				continue
			}
			ts, _ := e["ts"].(string)
			line := fmt.Sprintf("%s %s: %s", ts, m.Name, msg)
			for _, k := range []string{"local-member-id", "peer-id", "remote-peer-id", "stream-type", "error"} {
				if v, ok := e[k]; ok {
					line += fmt.Sprintf(" %s=%v", k, v)
				}
			}
			evs = append(evs, event{ts, line})
		}
		seen[m.Name] += n
		f.Close()
	}
	if quiet {
		return
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].ts < evs[j].ts })
	for _, e := range evs {
		fmt.Fprintln(os.Stderr, "peerlog:", e.line)
	}
	var ids []string
	for _, m := range c.Members() {
		ids = append(ids, fmt.Sprintf("%s=%x", m.Name, m.ID()))
	}
	fmt.Fprintln(os.Stderr, "peerlog: ids", strings.Join(ids, " "))
}

// addRefused is how long etcd refused a replacement's member add: from the
// first "rejecting member add request" any member logged in [from, to] to
// to (the add's end), and how many refusals; 0 when none. etcd logs the
// refusal at warn, the playground's level. It is etcd's strict reconfig
// check (every voter connected to the others for 5 s) that a by-hand add
// meets just the same: the wait is etcd's, not the tool's.
func addRefused(c *playground.Cluster, from, to time.Time) (time.Duration, int) {
	var first time.Time
	n := 0
	for _, m := range c.Members() {
		ts := logged(m, "rejecting member add request", from, to)
		n += len(ts)
		if len(ts) > 0 && (first.IsZero() || ts[0].Before(first)) {
			first = ts[0]
		}
	}
	if n == 0 {
		return 0, 0
	}
	return to.Sub(first), n
}

// logged are the times of the member's log lines in [from, to] whose
// message contains msg, in the order logged.
func logged(m *playground.Member, msg string, from, to time.Time) []time.Time {
	f, err := os.Open(m.LogPath())
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), msg) {
			continue
		}
		var e struct {
			TS  string `json:"ts"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || !strings.Contains(e.Msg, msg) {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, e.TS)
		if err == nil && !ts.Before(from) && !ts.After(to) {
			out = append(out, ts)
		}
	}
	return out
}
