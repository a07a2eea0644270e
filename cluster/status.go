package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// DefaultQuotaBytes is etcd's backend quota when none is configured (2 GiB).
const DefaultQuotaBytes int64 = 2 << 30

// Where a member's quota figure came from.
const (
	QuotaFromStatus   = "status"   // StatusResponse.DbSizeQuota (3.6+)
	QuotaFromMetrics  = "metrics"  // etcd_server_quota_backend_bytes
	QuotaFromDefault  = "default"  // neither: etcd's 2 GiB default assumed
	QuotaDisabled     = "disabled" // the metric is negative: quota switched off
	metricQuotaBytes  = "etcd_server_quota_backend_bytes"
	metricWALFsync    = "etcd_disk_wal_fsync_duration_seconds"
	metricBackendComm = "etcd_disk_backend_commit_duration_seconds"
)

// Alarm is one raised alarm, on the member that raised it.
type Alarm struct {
	MemberID uint64
	Type     string // NOSPACE, CORRUPT
}

// MemberStatus is what one member reports about itself: Status RPC plus a
// /metrics scrape. The raw responses stay available to capabilities that need
// more than the table shows.
type MemberStatus struct {
	Member Member

	Status     *pb.StatusResponse
	Metrics    *MetricsSample
	Err        error // Status failed: the member is unreachable, hung, or refused us
	MetricsErr error // /metrics failed: latency figures are unknown, not zero
	Took       time.Duration

	Quota       int64
	QuotaSource string
	Alarms      []Alarm // every alarm this member knows of, cluster-wide
}

// OK reports whether the member answered Status.
func (s *MemberStatus) OK() bool { return s.Err == nil && s.Status != nil }

// IsLeader reports whether the member says it is the leader.
func (s *MemberStatus) IsLeader() bool {
	return s.OK() && s.Status.GetLeader() != 0 && s.Status.GetLeader() == s.Status.GetHeader().GetMemberId()
}

// Fragmentation is the share of the database file that is free pages: 1 − inUse/size.
func (s *MemberStatus) Fragmentation() float64 {
	if !s.OK() || s.Status.GetDbSize() <= 0 {
		return 0
	}
	return 1 - float64(s.Status.GetDbSizeInUse())/float64(s.Status.GetDbSize())
}

// QuotaUsage is the physical DB size against the quota: etcd checks the quota
// against the file size, not the in-use size, so fragmentation eats quota.
func (s *MemberStatus) QuotaUsage() float64 {
	if !s.OK() || s.Quota <= 0 {
		return 0
	}
	return float64(s.Status.GetDbSize()) / float64(s.Quota)
}

// ApplyLag is committed minus applied raft index.
func (s *MemberStatus) ApplyLag() uint64 {
	if !s.OK() || s.Status.GetRaftAppliedIndex() >= s.Status.GetRaftIndex() {
		return 0
	}
	return s.Status.GetRaftIndex() - s.Status.GetRaftAppliedIndex()
}

// WALFsyncP99 is the lifetime p99 of WAL fsync; ok=false when metrics are unavailable.
func (s *MemberStatus) WALFsyncP99() (float64, bool) {
	if s.Metrics == nil {
		return 0, false
	}
	return s.Metrics.HistogramQuantile(metricWALFsync, 0.99)
}

// BackendCommitP99 is the lifetime p99 of backend commits.
func (s *MemberStatus) BackendCommitP99() (float64, bool) {
	if s.Metrics == nil {
		return 0, false
	}
	return s.Metrics.HistogramQuantile(metricBackendComm, 0.99)
}

// AlarmsOn returns the alarm types raised by one member.
func (s *MemberStatus) AlarmsOn(id uint64) []string {
	var out []string
	for _, a := range s.Alarms {
		if a.MemberID == id {
			out = append(out, a.Type)
		}
	}
	return out
}

// Snapshot is the status of every member taken at one moment.
type Sample struct {
	Membership *Membership
	Members    []*MemberStatus // same order as Membership.Members
	At         time.Time
}

// ProbeOptions choose what a probe gathers.
type ProbeOptions struct {
	// SkipMetrics leaves out the /metrics scrape (gates that need only Status).
	SkipMetrics bool
	// Families, when not nil, are the only metric families parsed from each
	// scrape (health.MetricFamilies: what the checks read), besides those
	// MemberStatus itself reads; nil parses all. Parsing every family of a
	// member's /metrics was most of the CPU a status spent.
	Families []string
}

// statusFamilies are the metric families MemberStatus reads itself.
var statusFamilies = []string{metricQuotaBytes, metricWALFsync, metricBackendComm}

// probeFamilies are the families a probe parses (nil: all).
func probeFamilies(opts ProbeOptions) []string {
	if opts.Families == nil {
		return nil
	}
	return append(slices.Clip(opts.Families), statusFamilies...)
}

// Probe gathers Status and /metrics from every member in parallel; each member
// is bounded by --command-timeout, so a hung member costs that and no more,
// and always yields a row. A scrape PrefetchMetrics started is taken, not repeated.
func (c *Cluster) Probe(ctx context.Context, ms *Membership, opts ProbeOptions) *Sample {
	snap := &Sample{Membership: ms, Members: make([]*MemberStatus, len(ms.Members)), At: time.Now()}
	var wg sync.WaitGroup
	for i, m := range ms.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap.Members[i] = c.ProbeMember(ctx, m, opts)
		}()
	}
	wg.Wait()
	return snap
}

// ProbeMember gathers one member's Status and metrics under one deadline.
func (c *Cluster) ProbeMember(ctx context.Context, m Member, opts ProbeOptions) *MemberStatus {
	ctx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	start := time.Now()
	st := &MemberStatus{Member: m}
	if !m.Started() {
		st.Err = fmt.Errorf("member %s has not started (added, never joined)", m.IDString())
		return st
	}
	var wg sync.WaitGroup
	mctx, stopScrape := context.WithCancel(ctx)
	defer stopScrape()
	if !opts.SkipMetrics && m.MetricsURL != "" {
		fams := probeFamilies(opts)
		pre := c.takePrefetch(m.MetricsURL, fams)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if pre != nil {
				st.Metrics, st.MetricsErr = pre.wait(mctx)
			} else {
				st.Metrics, st.MetricsErr = ScrapeMetricsFamilies(mctx, c.http, m.MetricsURL, fams)
			}
			if st.MetricsErr != nil {
				st.MetricsErr = c.Config.classify(m.MetricsURL, st.MetricsErr)
			}
		}()
	}
	st.Status, st.Err = c.StatusOf(ctx, m)
	// A member that did not answer on its client address will not answer a
	// scrape on that same listener either: waiting for it would make one
	// hung member cost --command-timeout instead of --dial-timeout. A
	// separate metrics listener (kubeadm's :2381) is still read: it can
	// tell why the member hangs.
	skipped := errors.Is(st.Err, ErrUnreachable) && sameListener(m.MetricsURL, m.Endpoint)
	if skipped {
		stopScrape()
	}
	wg.Wait()
	if skipped && st.Metrics == nil {
		st.MetricsErr = fmt.Errorf("%s: %w: not scraped: the member did not answer on this address", m.MetricsURL, ErrUnreachable)
	}
	st.Took = time.Since(start)
	if st.OK() {
		st.Alarms = parseAlarms(st.Status.GetErrors())
	}
	st.Quota, st.QuotaSource = quotaOf(st.Status, st.Metrics)
	return st
}

// StatusOf calls Status on exactly this member and checks that the answer
// comes from the member ID we expect: members are identified by ID, never by
// URL, and a URL can point at a replaced member.
func (c *Cluster) StatusOf(ctx context.Context, m Member) (*pb.StatusResponse, error) {
	cli, err := c.Client(ctx, m.Endpoint)
	if err != nil {
		return nil, err
	}
	resp, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return nil, c.fail(m.Endpoint, err)
	}
	if got := resp.GetHeader().GetMemberId(); m.ID != 0 && got != m.ID {
		return nil, fmt.Errorf("%s answered as member %s, expected %s", m.Endpoint, FormatID(got), m.IDString())
	}
	return resp, nil
}

// Compiled on first use: a package-level regexp is compiled at start-up by
// every command, which this one is not.
var alarmPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`memberID:\s*(\d+)\s+alarm:\s*([A-Z_]+)`) })

// parseAlarms reads the alarms Status reports in its Errors field. AlarmList
// would need quorum; Status is local, so this works when quorum is lost.
func parseAlarms(errs []string) []Alarm {
	var out []Alarm
	for _, e := range errs {
		m := alarmPattern().FindStringSubmatch(e)
		if m == nil {
			continue
		}
		id, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, Alarm{MemberID: id, Type: m[2]})
	}
	return out
}

// quotaOf finds the member's backend quota: Status reports it from 3.6 on, but
// 3.6.0–3.6.5 report 0 for the default; older servers never do. Then the
// metric, then etcd's documented default.
func quotaOf(st *pb.StatusResponse, metrics *MetricsSample) (int64, string) {
	if st != nil && st.GetDbSizeQuota() > 0 {
		return st.GetDbSizeQuota(), QuotaFromStatus
	}
	if metrics != nil {
		if v, ok := metrics.Value(metricQuotaBytes); ok {
			if v < 0 {
				return 0, QuotaDisabled
			}
			if v > 0 {
				return int64(v), QuotaFromMetrics
			}
		}
	}
	return DefaultQuotaBytes, QuotaFromDefault
}

// sameListener reports whether two endpoints (URLs, or host:port as
// --endpoints may give them) name one host and port.
func sameListener(a, b string) bool {
	ha, hb := listenerOf(a), listenerOf(b)
	return ha != "" && ha == hb
}

func listenerOf(endpoint string) string {
	if !strings.Contains(endpoint, "://") {
		return endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return u.Host
}
