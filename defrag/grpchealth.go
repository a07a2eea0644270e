package defrag

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// Values of StopGRPCServiceOnDefrag as the plan and the results report them.
const (
	GRPCHealthOn      = "on"      // the member reports NOT_SERVING while it defragments
	GRPCHealthOff     = "off"     // it keeps reporting SERVING: clients wait out the stall
	GRPCHealthUnknown = "unknown" // not known from the manifest and not observed
)

// manifestStopGRPCOnDefrag reads StopGRPCServiceOnDefrag (etcd 3.6+, off by
// default) from the local member's kubeadm manifest, the only place it can be
// read before a defragmentation: the API does not expose feature gates. It
// returns the local member's name and "on"/"off", or "" when there is no
// manifest.
func manifestStopGRPCOnDefrag(cfg *cluster.Config) (name, state string) {
	if cfg == nil || cfg.Local == nil || cfg.Local.Flags == nil {
		return "", ""
	}
	if cfg.Local.StopGRPCServiceOnDefrag() {
		return cfg.Local.Name, GRPCHealthOn
	}
	return cfg.Local.Name, GRPCHealthOff
}

// observeGRPCHealth watches a member's gRPC health service while it
// defragments; the health server does not wait on the backend, so it reports
// during the stall. The server pushes every status change on a Watch stream,
// so observing costs the member nothing while it is busy; a member whose
// health service has no Watch is polled instead. The returned function stops
// observing and says what was seen: "on" when NOT_SERVING was reported, "off"
// when only SERVING was reported over a defragmentation long enough to tell
// (at least a second), "unknown" otherwise.
func observeGRPCHealth(ctx context.Context, cli *clientv3.Client) func(took time.Duration) string {
	if cli == nil || cli.ActiveConnection() == nil {
		return func(time.Duration) string { return GRPCHealthUnknown }
	}
	hc := healthpb.NewHealthClient(cli.ActiveConnection())
	pctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	serving, notServing := 0, 0
	record := func(st healthpb.HealthCheckResponse_ServingStatus) {
		mu.Lock()
		defer mu.Unlock()
		switch st {
		case healthpb.HealthCheckResponse_NOT_SERVING:
			notServing++
		case healthpb.HealthCheckResponse_SERVING:
			serving++
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if watchHealth(pctx, hc, record) {
			return
		}
		pollHealth(pctx, hc, record)
	}()
	return func(took time.Duration) string {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		switch {
		case notServing > 0:
			return GRPCHealthOn
		case serving > 0 && took >= time.Second:
			return GRPCHealthOff
		}
		return GRPCHealthUnknown
	}
}

// watchHealth records every status the member pushes until ctx ends. It
// returns false when the member offers no Watch, so the caller polls.
func watchHealth(ctx context.Context, hc healthpb.HealthClient, record func(healthpb.HealthCheckResponse_ServingStatus)) bool {
	stream, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return grpcstatus.Code(err) != codes.Unimplemented
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return grpcstatus.Code(err) != codes.Unimplemented
		}
		record(resp.GetStatus())
	}
}

// pollHealth asks every 25 ms: a small member defragments in a fraction of a second.
func pollHealth(ctx context.Context, hc healthpb.HealthClient, record func(healthpb.HealthCheckResponse_ServingStatus)) {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		ccancel()
		if err == nil {
			record(resp.GetStatus())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
