package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MetricsSample is one parsed scrape of a member's /metrics endpoint.
type MetricsSample struct {
	At       time.Time
	families map[string]*dto.MetricFamily
	// only is the set of families parsed when the scrape was filtered (nil:
	// all of them). Asking for another is a bug in the caller's family list,
	// not a metric the member lacks, so it panics rather than say "absent".
	only map[string]bool
}

// family returns one parsed family, nil when the member does not export it.
func (s *MetricsSample) family(name string) *dto.MetricFamily {
	if s.only != nil && !s.only[name] {
		panic(fmt.Sprintf("cluster: metric family %s was not parsed: add it to the ProbeOptions.Families of this probe (health.MetricFamilies)", name))
	}
	return s.families[name]
}

// metricsMaxBody bounds a scrape. etcd's /metrics is a few hundred KiB; the
// bound is only there so a misdirected URL cannot exhaust memory.
const metricsMaxBody = 32 << 20

// metricsProcessStart identifies the process behind a scrape: if it differs
// between two scrapes the member restarted, even when its counters have
// already climbed past their old values and a decrease alone would miss it.
const metricsProcessStart = "process_start_time_seconds"

// ParseMetrics parses Prometheus text exposition (format 0.0.4), which is what
// every etcd release serves on /metrics.
func ParseMetrics(r io.Reader, at time.Time) (*MetricsSample, error) {
	// UTF8Validation accepts every name the legacy scheme does and more, so
	// a future exporter with quoted names does not make the whole scrape fail.
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return &MetricsSample{At: at, families: fams}, nil
}

// ParseMetricsFamilies parses only the named families of a text exposition
// (nil: all, as ParseMetrics): the other lines are dropped before the parser
// sees them. etcd serves 100–200 families (≈1,800 lines, most of them gRPC
// and Go runtime series) and a check reads about a dozen; parsing them all
// was most of the CPU `status` spent. The parse itself stays the library's.
func ParseMetricsFamilies(body []byte, at time.Time, families []string) (*MetricsSample, error) {
	if families == nil {
		return ParseMetrics(bytes.NewReader(body), at)
	}
	only := familySet(families)
	kept, err := filterFamilies(bytes.NewReader(body), only)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return parseOnly(kept, at, only)
}

// familySet is the families to parse: those asked for and the process start
// time, which every delta needs to tell a restart.
func familySet(families []string) map[string]bool {
	only := make(map[string]bool, len(families)+1)
	for _, f := range families {
		only[f] = true
	}
	only[metricsProcessStart] = true
	return only
}

// parseOnly parses lines filterFamilies kept.
func parseOnly(kept []byte, at time.Time, only map[string]bool) (*MetricsSample, error) {
	s, err := ParseMetrics(bytes.NewReader(kept), at)
	if err != nil {
		return nil, err
	}
	s.only = only
	return s, nil
}

// filterFamilies keeps the lines of the families in keep, in their order:
// their # HELP and # TYPE lines and their samples, which for a histogram or
// summary are also NAME_bucket, NAME_sum and NAME_count. A suffixed name is
// taken as part of NAME only when NAME was declared a histogram or summary,
// as the text format defines it; client_golang refuses to register a metric
// whose name collides with such a suffix, so no other family is pulled in.
// It reads r line by line and holds only what it keeps (a few KiB of a
// scrape of a few hundred), allocating nothing for a dropped line.
func filterFamilies(r io.Reader, keep map[string]bool) ([]byte, error) {
	out := make([]byte, 0, 16<<10)
	composite := map[string]bool{} // kept families typed histogram or summary
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // a line longer than the reader's buffer, gathered
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line, long = append(long, line...), nil
		}
		if name, typ, comment := lineFamily(line); comment {
			if keep[string(name)] {
				out = append(out, line...)
				if t := string(typ); t == "histogram" || t == "summary" {
					composite[string(name)] = true
				}
			}
		} else if len(name) > 0 && (keep[string(name)] || composite[string(trimSampleSuffix(name))]) {
			out = append(out, line...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if n := len(out); n > 0 && out[n-1] != '\n' {
		out = append(out, '\n')
	}
	return out, nil
}

// lineFamily names the metric a line is about: the family of a # HELP or
// # TYPE line (comment=true; typ is the declared type of a TYPE line), or the
// sample name of a sample line, bare or quoted ({"name",…}). Other comments
// and blank lines have no name. The results alias line.
func lineFamily(line []byte) (name, typ []byte, comment bool) {
	line = bytes.TrimLeft(line, " \t")
	if len(line) == 0 {
		return nil, nil, false
	}
	switch line[0] {
	case '#':
		kw, rest := nextToken(line[1:])
		if string(kw) != "HELP" && string(kw) != "TYPE" {
			return nil, nil, true
		}
		name, rest = nextToken(rest)
		if string(kw) == "TYPE" {
			typ, _ = nextToken(rest)
		}
		return bytes.Trim(name, `"`), typ, true
	case '{':
		if rest, ok := bytes.CutPrefix(line[1:], []byte(`"`)); ok {
			if i := bytes.IndexByte(rest, '"'); i > 0 {
				return rest[:i], nil, false
			}
		}
		return nil, nil, false
	}
	end := bytes.IndexAny(line, "{ \t\r\n")
	if end < 0 {
		end = len(line)
	}
	return line[:end], nil, false
}

// nextToken splits off the next blank-separated token.
func nextToken(b []byte) (tok, rest []byte) {
	b = bytes.TrimLeft(b, " \t")
	end := bytes.IndexAny(b, " \t\r\n")
	if end < 0 {
		return b, nil
	}
	return b[:end], b[end:]
}

// trimSampleSuffix is the family a histogram or summary sample belongs to.
func trimSampleSuffix(name []byte) []byte {
	for _, suf := range [...]string{"_bucket", "_sum", "_count"} {
		if base, ok := bytes.CutSuffix(name, []byte(suf)); ok {
			return base
		}
	}
	return nil
}

// ScrapeMetrics GETs url (e.g. "https://127.0.0.1:2379/metrics") with the
// given client; ctx bounds it; non-200 is an error; the body is limited to
// 32 MiB. Every family is parsed.
func ScrapeMetrics(ctx context.Context, hc *http.Client, url string) (*MetricsSample, error) {
	return ScrapeMetricsFamilies(ctx, hc, url, nil)
}

// ScrapeMetricsFamilies is ScrapeMetrics parsing only the named families (nil:
// all); see ParseMetricsFamilies.
func ScrapeMetricsFamilies(ctx context.Context, hc *http.Client, url string, families []string) (*MetricsSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// Without this, promhttp may negotiate protobuf or OpenMetrics, which
	// the text parser cannot read.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	// Not gzip (Go's transport asks for it unless told otherwise): etcd
	// would compress a few hundred KiB on every scrape and we would inflate
	// it, CPU on both ends — a struggling member's is what this tool spares —
	// to save a millisecond of transfer between control-plane nodes.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	// Read one byte past the limit: a body cut off at a line boundary would
	// otherwise parse cleanly with metrics silently missing.
	lr := &io.LimitedReader{R: resp.Body, N: metricsMaxBody + 1}
	var body []byte
	var only map[string]bool
	if families == nil {
		body, err = io.ReadAll(lr)
	} else {
		only = familySet(families)
		body, err = filterFamilies(lr, only)
	}
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("scrape %s: response larger than %d MiB", url, metricsMaxBody>>20)
	}
	// Stamped after the body arrived: that is when the counters were read.
	at := time.Now()
	var s *MetricsSample
	if only != nil {
		s, err = parseOnly(body, at, only)
	} else {
		s, err = ParseMetrics(bytes.NewReader(body), at)
	}
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return s, nil
}

// Has reports whether the scrape contains the metric family at all, which is
// how version- and flag-dependent metrics (e.g. grpc_server_handling_seconds
// needs --metrics=extensive) are told apart from a zero reading.
func (s *MetricsSample) Has(name string) bool {
	if s == nil {
		return false
	}
	return s.family(name) != nil
}

// Value returns the sum over all series of a gauge/counter/untyped metric;
// ok=false when absent, so callers never mistake "not exported" for 0.
func (s *MetricsSample) Value(name string) (v float64, ok bool) {
	if s == nil {
		return 0, false
	}
	f := s.family(name)
	if f == nil || len(f.GetMetric()) == 0 {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		switch {
		case m.GetGauge() != nil:
			v += m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			v += m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			v += m.GetUntyped().GetValue()
		default:
			// A histogram or summary has no single value; summing its
			// sample sum would be a number with the wrong meaning.
			return 0, false
		}
	}
	return v, true
}

// LabelValue returns the value of label on the first series of name (e.g.
// etcd_server_version{server_version="3.6.6"}).
func (s *MetricsSample) LabelValue(name, label string) (string, bool) {
	if s == nil {
		return "", false
	}
	f := s.family(name)
	if f == nil || len(f.GetMetric()) == 0 {
		return "", false
	}
	for _, lp := range f.GetMetric()[0].GetLabel() {
		if lp.GetName() == label {
			return lp.GetValue(), true
		}
	}
	return "", false
}

// histBucket is one cumulative bucket: count observations were <= upper.
type histBucket struct {
	upper float64
	count float64
}

// histogram sums every series of a histogram into one bucket list sorted by
// upper bound and ending in +Inf, like sum by (le) in PromQL: etcd labels
// some histograms (e.g. etcd_server_apply_duration_seconds{op,success}) and
// the doctor wants the member-wide distribution.
func (s *MetricsSample) histogram(name string) (buckets []histBucket, count float64, ok bool) {
	if s == nil {
		return nil, 0, false
	}
	f := s.family(name)
	if f == nil || f.GetType() != dto.MetricType_HISTOGRAM || len(f.GetMetric()) == 0 {
		return nil, 0, false
	}
	sums := map[float64]float64{}
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		count += float64(h.GetSampleCount())
		for _, b := range h.GetBucket() {
			sums[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	// The text parser keeps the +Inf line as a bucket; client_golang's own
	// protobuf leaves it implicit. The sample count is the +Inf bucket by
	// definition, so it is used either way.
	sums[math.Inf(1)] = count
	buckets = make([]histBucket, 0, len(sums))
	for ub, c := range sums {
		buckets = append(buckets, histBucket{ub, c})
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].upper < buckets[j].upper })
	return buckets, count, true
}

// HistogramCount returns the observation count.
func (s *MetricsSample) HistogramCount(name string) (float64, bool) {
	_, count, ok := s.histogram(name)
	return count, ok
}

// HistogramQuantile computes quantile q (0..1) of a histogram (all series
// summed), cumulative since process start, with Prometheus histogram_quantile
// semantics: linear interpolation inside the bucket; if the quantile falls in
// the +Inf bucket, the upper bound of the highest finite bucket; ok=false when
// absent or count==0.
func (s *MetricsSample) HistogramQuantile(name string, q float64) (float64, bool) {
	buckets, _, ok := s.histogram(name)
	if !ok {
		return 0, false
	}
	return histQuantile(q, buckets)
}

// HistogramQuantileDelta computes the quantile over only the observations
// made between two scrapes of the same member (bucket counts after − before),
// which is what "is the disk slow now" needs: a lifetime p99 is dominated by
// history, e.g. a slow start-up or yesterday's incident. ok=false when the
// metric is missing in either sample, when no observations happened in
// between, or when the member restarted in between (reset=true).
func HistogramQuantileDelta(before, after *MetricsSample, name string, q float64) (v float64, ok bool, reset bool) {
	b1, n1, ok1 := before.histogram(name)
	b2, n2, ok2 := after.histogram(name)
	if !ok1 || !ok2 {
		return 0, false, false
	}
	if metricsRestarted(before, after) || n2 < n1 {
		return 0, false, true
	}
	prev := make(map[float64]float64, len(b1))
	for _, b := range b1 {
		prev[b.upper] = b.count
	}
	delta := make([]histBucket, len(b2))
	for i, b := range b2 {
		p, found := prev[b.upper]
		if !found {
			// A changed bucket layout is a different binary: nothing to
			// subtract from means the two scrapes are not comparable.
			return 0, false, true
		}
		if b.count < p {
			return 0, false, true
		}
		delta[i] = histBucket{b.upper, b.count - p}
	}
	// No observations in between leaves a zero total, which histQuantile
	// reports as ok=false: an idle window has no latency, not a zero one.
	v, ok = histQuantile(q, delta)
	return v, ok, false
}

// CounterDelta returns after−before for a counter (ok=false if missing or
// reset).
func CounterDelta(before, after *MetricsSample, name string) (float64, bool) {
	a, ok1 := before.Value(name)
	b, ok2 := after.Value(name)
	if !ok1 || !ok2 || b < a || metricsRestarted(before, after) {
		return 0, false
	}
	return b - a, true
}

// metricsRestarted reports a different process behind the two scrapes, when
// both carry a start time (process metrics are absent on some platforms).
func metricsRestarted(before, after *MetricsSample) bool {
	t1, ok1 := before.Value(metricsProcessStart)
	t2, ok2 := after.Value(metricsProcessStart)
	return ok1 && ok2 && t1 != t2
}

// histQuantile is Prometheus' bucketQuantile (promql/quantile.go) for
// cumulative buckets sorted by upper bound and ending in +Inf.
func histQuantile(q float64, buckets []histBucket) (float64, bool) {
	if math.IsNaN(q) || q < 0 || q > 1 || len(buckets) < 2 {
		return 0, false
	}
	histMonotonic(buckets)
	total := buckets[len(buckets)-1].count
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	// The +Inf bucket is never searched: a rank beyond every finite bucket
	// has no upper edge to interpolate towards.
	b := sort.Search(len(buckets)-1, func(i int) bool { return buckets[i].count >= rank })
	if b == len(buckets)-1 {
		return buckets[len(buckets)-2].upper, true
	}
	if b == 0 && buckets[0].upper <= 0 {
		return buckets[0].upper, true
	}
	start, end, count := 0.0, buckets[b].upper, buckets[b].count
	if b > 0 {
		start = buckets[b-1].upper
		count -= buckets[b-1].count
		rank -= buckets[b-1].count
	}
	if count == 0 {
		// Only reachable for q=0 on an empty first bucket, where
		// Prometheus divides 0 by 0 and returns NaN; the lower edge is
		// the honest answer and keeps NaN out of JSON output.
		return start, true
	}
	return start + (end-start)*(rank/count), true
}

// histMonotonic repairs cumulative counts that decrease, as Prometheus does:
// summing series with different bucket layouts, or scrapes taken while a
// histogram is mid-update, can produce them, and the search above assumes
// non-decreasing counts.
func histMonotonic(buckets []histBucket) {
	hi := math.Inf(-1)
	for i := range buckets {
		if buckets[i].count > hi {
			hi = buckets[i].count
		} else {
			buckets[i].count = hi
		}
	}
}
