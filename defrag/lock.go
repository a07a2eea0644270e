package defrag

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// DefaultLockKey is where runs on different control-plane nodes meet.
const DefaultLockKey = "/etcdmedic/locks/defrag"

// Holder says who holds the lock; it is the value of the holder's lock key.
type Holder struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// ErrLocked means another run holds the lock.
var ErrLocked = errors.New("another defrag run holds the lock")

// Lock is a held cluster-wide lock: an etcd lease-backed mutex, so a run
// that dies releases it when its lease expires (ttl seconds).
type Lock struct {
	session *concurrency.Session
	mutex   *concurrency.Mutex
}

// AcquireLock takes the lock without waiting. When it is held, the error
// wraps ErrLocked and names the holder and since when.
func AcquireLock(ctx context.Context, cli *clientv3.Client, key string, ttl int, timeout time.Duration) (*Lock, error) {
	// Every RPC has a deadline: grant the lease here, bounded, rather than
	// inside NewSession, whose context must outlive the run for keepalives.
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lease, err := cli.Grant(tctx, int64(ttl))
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	s, err := concurrency.NewSession(cli, concurrency.WithLease(lease.ID), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	m := concurrency.NewMutex(s, key)
	if err := m.TryLock(tctx); err != nil {
		s.Close()
		if errors.Is(err, concurrency.ErrLocked) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, describeHolder(ctx, cli, key, timeout))
		}
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	host, _ := os.Hostname()
	info, _ := json.Marshal(Holder{Host: host, PID: os.Getpid(), Started: time.Now().UTC()})
	if _, err := cli.Put(tctx, m.Key(), string(info), clientv3.WithLease(s.Lease())); err != nil {
		uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		m.Unlock(uctx)
		ucancel()
		s.Close()
		return nil, fmt.Errorf("lock %s: record holder: %w", key, err)
	}
	return &Lock{session: s, mutex: m}, nil
}

func describeHolder(ctx context.Context, cli *clientv3.Client, key string, timeout time.Duration) string {
	gctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := cli.Get(gctx, key+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return "holder unknown"
	}
	var h Holder
	if json.Unmarshal(resp.Kvs[0].Value, &h) != nil || h.Host == "" {
		return fmt.Sprintf("held by lock key %s", resp.Kvs[0].Key)
	}
	return fmt.Sprintf("held by %s (pid %d) since %s", h.Host, h.PID, h.Started.Format(time.RFC3339))
}

// Release unlocks and ends the lease, bounded by timeout.
func (l *Lock) Release(ctx context.Context, timeout time.Duration) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	l.mutex.Unlock(uctx)
	l.session.Close()
}

// ErrLockLost means the run no longer holds the lock it took: its lease
// expired (the run was paused or cut off longer than the TTL) and another run
// may hold it now. Two runs defragmenting at once can take two members
// offline together, so a run that lost its lock stops.
var ErrLockLost = errors.New("the cluster-wide lock was lost")

// Held proves, in one transaction against the cluster, that the lock key this
// run created still exists with the revision it was created at — which holds
// only while the lease lives and nobody else took the lock since. Called
// before every member: the fence.
func (l *Lock) Held(ctx context.Context, cli *clientv3.Client, timeout time.Duration) error {
	select {
	case <-l.session.Done():
		return fmt.Errorf("%w: the lease's keepalive ended (lease %x)", ErrLockLost, l.session.Lease())
	default:
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := cli.Txn(tctx).If(l.mutex.IsOwner()).Commit()
	if err != nil {
		return fmt.Errorf("lock %s: check: %w", l.mutex.Key(), err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: key %s is gone (lease %x expired)", ErrLockLost, l.mutex.Key(), l.session.Lease())
	}
	return nil
}
