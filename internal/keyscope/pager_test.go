package keyscope_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/internal/keyscope"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

// seed writes n keys under prefix with values of size bytes, in
// transactions of 100.
func seed(t *testing.T, cli *clientv3.Client, prefix string, n, size int) {
	t.Helper()
	val := strings.Repeat("v", size)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for start := w * 100; start < n; start += 400 {
				var ops []clientv3.Op
				for i := start; i < start+100 && i < n; i++ {
					ops = append(ops, clientv3.OpPut(fmt.Sprintf("%sns-%03d/obj-%05d", prefix, i%37, i), val))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := cli.Txn(ctx).Then(ops...).Commit()
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// rpcs reads how many RPCs of each KV method the member has handled.
func rpcs(t *testing.T, endpoint string) map[string]int {
	t.Helper()
	resp, err := http.Get(endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "grpc_server_handled_total{") || !strings.Contains(line, `grpc_service="etcdserverpb.KV"`) {
			continue
		}
		i := strings.Index(line, `grpc_method="`)
		method := line[i+len(`grpc_method="`):]
		method = method[:strings.IndexByte(method, '"')]
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[method] += int(v)
	}
	return out
}

// readAll pages through prefix and returns every key read, failing on a
// page larger than the page size or a key read twice.
func readAll(t *testing.T, p *keyscope.Pager, pageSize int64) (keys []string, pages int) {
	t.Helper()
	seen := map[string]bool{}
	for {
		resp, err := p.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if resp == nil {
			return keys, pages
		}
		pages++
		if int64(len(resp.Kvs)) > pageSize {
			t.Fatalf("page of %d keys, page size %d", len(resp.Kvs), pageSize)
		}
		for _, kv := range resp.Kvs {
			if seen[string(kv.Key)] {
				t.Fatalf("%s read twice", kv.Key)
			}
			seen[string(kv.Key)] = true
			keys = append(keys, string(kv.Key))
		}
	}
}

// Against etcd 3.7 the whole read is one RangeStream (plus one key's count
// to pin the revision), not a Range per page that counts to the range end;
// pages still hold at most the page size, all at one revision.
func TestPagerStreamsAtOnePinnedRevision(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	seed(t, cli, "/registry/pods/", 3000, 100)
	ep := c.Endpoints()[0]
	before := rpcs(t, ep)
	p := keyscope.NewPager(cli, "/registry/pods/", "/registry/pods0", "/registry/pods/", 50, 5*time.Second, clientv3.WithKeysOnly())
	defer p.Close()
	first, err := p.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Written after the first page: never read.
	for i := 0; i < 20; i++ {
		if _, err := cli.Put(context.Background(), fmt.Sprintf("/registry/pods/ns-000/late-%d", i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	keys, pages := readAll(t, p, 50)
	if total := len(first.Kvs) + len(keys); total != 3000 || pages+1 < 3000/50 {
		t.Fatalf("read %d keys in %d pages, want 3000 in at least %d pages of 50", total, pages+1, 3000/50)
	}
	after := rpcs(t, ep)
	if streams := after["RangeStream"] - before["RangeStream"]; streams != 1 {
		t.Fatalf("%d RangeStream RPCs, want 1", streams)
	}
	if ranges := after["Range"] - before["Range"]; ranges > 1 {
		t.Fatalf("%d Range RPCs besides the stream, want 1 (the revision)", ranges)
	}
	if p.Rev == 0 || p.Rev >= first.Header.Revision+20 {
		t.Fatalf("revision %d: not pinned before the late writes", p.Rev)
	}
}

// A chunk larger than the client may receive, or a server without
// RangeStream (NoStream stands in for it here), pages with limited ranges
// from where the stream got to, at the same revision.
func TestPagerPagesWhereItCannotStream(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	seed(t, cli, "/p/", 1500, 2000)
	small, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, MaxCallRecvMsgSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	ep := c.Endpoints()[0]
	for _, tc := range []struct {
		name     string
		cli      *clientv3.Client
		noStream bool
	}{{"chunks over the client's limit", small, false}, {"no stream", cli, true}} {
		before := rpcs(t, ep)
		p := keyscope.NewPager(tc.cli, "/p/", "/p0", "/p/", 100, 5*time.Second)
		p.NoStream = tc.noStream
		keys, _ := readAll(t, p, 100)
		p.Close()
		if len(keys) != 1500 {
			t.Fatalf("%s: read %d keys, want 1500", tc.name, len(keys))
		}
		after := rpcs(t, ep)
		if ranges := after["Range"] - before["Range"]; ranges < 15 {
			t.Fatalf("%s: %d Range RPCs: did not page", tc.name, ranges)
		}
		if tc.noStream && after["RangeStream"] != before["RangeStream"] {
			t.Fatalf("%s: streamed", tc.name)
		}
	}
}

// A member that stops answering mid-stream costs one page timeout, not a hang.
func TestPagerStreamPageTimeout(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	seed(t, cli, "/big/", 3000, 10000) // 30 MB: more than the client buffers
	const timeout = time.Second
	p := keyscope.NewPager(cli, "/big/", "/big0", "/big/", 10, timeout)
	defer p.Close()
	if _, err := p.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := c.Member(0)
	if err := m.Pause(); err != nil {
		t.Fatal(err)
	}
	defer m.Resume()
	paused := time.Now()
	var err error
	for err == nil {
		var resp *clientv3.GetResponse
		resp, err = p.Next(context.Background())
		if err == nil && resp == nil {
			t.Fatal("the whole range arrived before the member paused: the test proves nothing")
		}
	}
	took := time.Since(paused)
	if !errors.Is(err, context.DeadlineExceeded) || took > timeout+2*time.Second {
		t.Fatalf("after %s: %v, want a deadline after about %s", took, err, timeout)
	}
}

// etcd before 3.7 has no RangeStream: the pager pages with limited ranges
// at one revision, and reads every key once.
func TestPagerPagesOnEtcdWithoutRangeStream(t *testing.T) {
	for _, rb := range playgroundtest.ReleaseBinaries(t) {
		if !strings.HasPrefix(rb.Version, "v3.5.") && !strings.HasPrefix(rb.Version, "v3.6.") {
			continue
		}
		t.Run(rb.Version, func(t *testing.T) {
			c := playgroundtest.Start(t, playground.Options{Members: 1, EtcdBinary: rb.Etcd})
			cli := playgroundtest.Client(t, c)
			seed(t, cli, "/registry/pods/", 1200, 100)
			before := rpcs(t, c.Endpoints()[0])
			p := keyscope.NewPager(cli, "/registry/pods/", "/registry/pods0", "/registry/pods/", 100, 5*time.Second, clientv3.WithKeysOnly())
			defer p.Close()
			keys, _ := readAll(t, p, 100)
			if len(keys) != 1200 {
				t.Fatalf("read %d keys, want 1200", len(keys))
			}
			if ranges := rpcs(t, c.Endpoints()[0])["Range"] - before["Range"]; ranges < 12 {
				t.Fatalf("%d Range RPCs for 1200 keys in pages of 100", ranges)
			}
		})
	}
}

// Pages are bounded by bytes as well as keys: streamed from etcd 3.7, and
// paged with limited ranges from etcd 3.5, whose limits are fitted to the
// bytes per key the pages before held (only the first page is blind).
func TestPagerBoundsPageBytes(t *testing.T) {
	const pageBytes = 128 << 10
	const value = 10000
	run := func(t *testing.T, etcd string) {
		c := playgroundtest.Start(t, playground.Options{Members: 1, EtcdBinary: etcd})
		cli := playgroundtest.Client(t, c)
		seed(t, cli, "/registry/secrets/", 400, value) // 4 MB, 1 MB per seeding txn
		p := keyscope.NewPager(cli, "/registry/secrets/", "/registry/secrets0", "/registry/secrets/", 1000, 5*time.Second)
		p.PageBytes = pageBytes
		defer p.Close()
		seen := map[string]bool{}
		sized := false // a page before held keys
		for pages := 0; ; pages++ {
			resp, err := p.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if resp == nil {
				break
			}
			var b int
			for _, kv := range resp.Kvs {
				if seen[string(kv.Key)] || len(kv.Value) != value {
					t.Fatalf("%s: read twice or %d bytes of value", kv.Key, len(kv.Value))
				}
				seen[string(kv.Key)] = true
				b += len(kv.Key) + len(kv.Value)
			}
			if (sized && b > pageBytes) || len(resp.Kvs) > 16 && !sized {
				t.Fatalf("page %d: %d keys, %d bytes: more than PageBytes %d (or 16 keys before any)", pages, len(resp.Kvs), b, pageBytes)
			}
			sized = sized || len(resp.Kvs) > 0
		}
		if len(seen) != 400 {
			t.Fatalf("read %d keys, want 400", len(seen))
		}
	}
	t.Run("stream", func(t *testing.T) { run(t, "") })
	for _, rb := range playgroundtest.ReleaseBinaries(t) {
		if strings.HasPrefix(rb.Version, "v3.5.") {
			t.Run(rb.Version, func(t *testing.T) { run(t, rb.Etcd) })
		}
	}
}
