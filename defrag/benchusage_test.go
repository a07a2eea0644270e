package defrag

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// usage is what one tool run cost besides its wall time, the columns every
// scripts/bench-*.sh prints (scripts/benchlib.sh): the CPU the members spent
// meanwhile (their own process_cpu_seconds_total, summed, before and after:
// 10 ms resolution), the tool's CPU, its peak private and file-backed RSS
// (sampled from /proc every 2 ms) and its exact peak RSS, and the load. The
// tool's CPU includes /usr/bin/time's (about a millisecond).
type usage struct {
	wall         time.Duration // from start to exit, the scrapes around it left out
	etcdCPU      float64       // seconds, when etcdCPUKnown (every member's /metrics read)
	toolCPU      time.Duration
	anonKB       int64
	fileKB       int64
	maxRSSKB     int64
	load         string
	etcdCPUKnown bool
}

func (u usage) String() string {
	etcd := "-"
	if u.etcdCPUKnown {
		etcd = fmt.Sprintf("%.2f s", u.etcdCPU)
	}
	return fmt.Sprintf("etcd cpu %s  tool cpu %.2f s  rss anon %.1f MB  file %.1f MB  max %.1f MB  load %s",
		etcd, u.toolCPU.Seconds(), float64(u.anonKB)/1024, float64(u.fileKB)/1024, float64(u.maxRSSKB)/1024, u.load)
}

// runMeasured runs cmd to its end, measuring it as usage says. It runs as a
// child of /usr/bin/time, whose %M is the child's own peak RSS: a process
// forked from this one starts with this one's high-water mark (exec keeps the
// old mm's peak), so the rusage Go hands back would read this benchmark's
// RSS, not the tool's.
func runMeasured(cmd *exec.Cmd, metrics []string) (usage, error) {
	var u usage
	rssFile, err := os.CreateTemp("", "bench-maxrss")
	if err != nil {
		return u, err
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	cmd.Args = append([]string{"/usr/bin/time", "-o", rssFile.Name(), "-f", "%M"}, cmd.Args...)
	cmd.Path = "/usr/bin/time"
	before, ok1 := membersCPU(metrics)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return u, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sampleRSS(cmd.Process.Pid, stop, &u)
	}()
	err = cmd.Wait()
	u.wall = time.Since(start)
	close(stop)
	wg.Wait()
	after, ok2 := membersCPU(metrics)
	u.etcdCPU, u.etcdCPUKnown = after-before, ok1 && ok2
	if b, rerr := os.ReadFile(rssFile.Name()); rerr == nil {
		f := strings.Fields(string(b))
		if len(f) > 0 {
			u.maxRSSKB, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		}
	}
	u.toolCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if b, rerr := os.ReadFile("/proc/loadavg"); rerr == nil {
		u.load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return u, err
}

// sampleRSS keeps the highest RssAnon and RssFile of the tool, the child of
// /usr/bin/time (pid), until stop closes.
func sampleRSS(pid int, stop <-chan struct{}, u *usage) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	path := ""
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if path == "" {
			kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
			if err != nil || len(strings.Fields(string(kids))) == 0 {
				continue
			}
			path = "/proc/" + strings.Fields(string(kids))[0] + "/status"
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			if k != "RssAnon" && k != "RssFile" {
				continue
			}
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if k == "RssAnon" {
				u.anonKB = max(u.anonKB, kb)
			} else {
				u.fileKB = max(u.fileKB, kb)
			}
		}
		f.Close()
	}
}

// membersCPU sums process_cpu_seconds_total over the members' /metrics.
func membersCPU(urls []string) (float64, bool) {
	if len(urls) == 0 {
		return 0, false
	}
	var sum float64
	for _, u := range urls {
		// Short: a SIGSTOPped member does not answer, and its CPU is then unknown.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := cluster.ScrapeMetricsFamilies(ctx, http.DefaultClient, u, []string{"process_cpu_seconds_total"})
		cancel()
		if err != nil {
			return 0, false
		}
		v, ok := s.Value("process_cpu_seconds_total")
		if !ok {
			return 0, false
		}
		sum += v
	}
	return sum, true
}
