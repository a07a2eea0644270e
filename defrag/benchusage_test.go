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
	"syscall"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// usage is what one tool run cost besides its wall time, the columns every
// scripts/bench-*.sh prints (scripts/benchlib.sh): the CPU the members spent
// meanwhile (their own process_cpu_seconds_total, summed, before and after:
// 10 ms resolution), the tool's CPU, its peak private and file-backed RSS
// (sampled from /proc every 2 ms) and its exact peak RSS, and the load.
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

// runMeasured runs cmd to its end, measuring it as usage says.
func runMeasured(cmd *exec.Cmd, metrics []string) (usage, error) {
	var u usage
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
	err := cmd.Wait()
	u.wall = time.Since(start)
	close(stop)
	wg.Wait()
	after, ok2 := membersCPU(metrics)
	u.etcdCPU, u.etcdCPUKnown = after-before, ok1 && ok2
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.maxRSSKB = ru.Maxrss
	}
	u.toolCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if b, rerr := os.ReadFile("/proc/loadavg"); rerr == nil {
		u.load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return u, err
}

// sampleRSS keeps the highest RssAnon and RssFile of pid until stop closes.
func sampleRSS(pid int, stop <-chan struct{}, u *usage) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	path := fmt.Sprintf("/proc/%d/status", pid)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
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
