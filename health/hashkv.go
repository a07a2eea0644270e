package health

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// MemberHash is one voter's HashKV answer.
type MemberHash struct {
	Member          cluster.Member
	Hash            uint32
	CompactRevision int64
	Err             error
}

// HashComparison is HashKV of several voters at one revision.
type HashComparison struct {
	Revision int64
	Hashes   []MemberHash
}

// CompareHashes asks every given voter for HashKV at one revision that all of
// them have: the lowest current revision among them. The doctor's
// --consistency check and defrag's --verify-hash both use it.
func CompareHashes(ctx context.Context, c *cluster.Cluster, voters []cluster.Member) (*HashComparison, error) {
	rctx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	var rev int64
	for _, m := range voters {
		cli, err := c.Client(rctx, m.Endpoint)
		if err != nil {
			continue
		}
		resp, err := cli.Get(rctx, "health", clientv3.WithCountOnly())
		if err == nil && (rev == 0 || resp.Header.Revision < rev) {
			rev = resp.Header.Revision
		}
	}
	if rev == 0 {
		return nil, errors.New("no voter told its current revision")
	}
	hc := &HashComparison{Revision: rev, Hashes: make([]MemberHash, len(voters))}
	var wg sync.WaitGroup
	for i, m := range voters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hctx, cancel := c.WithCommandTimeout(ctx)
			defer cancel()
			hc.Hashes[i].Member = m
			cli, err := c.Client(hctx, m.Endpoint)
			if err != nil {
				hc.Hashes[i].Err = err
				return
			}
			resp, err := cli.HashKV(hctx, m.Endpoint, rev)
			if err != nil {
				hc.Hashes[i].Err = err
				return
			}
			hc.Hashes[i].Hash, hc.Hashes[i].CompactRevision = resp.Hash, resp.CompactRevision
		}()
	}
	wg.Wait()
	return hc, nil
}

// Mismatches describes, per compact revision, hashes that differ; empty when
// every member with the same compaction holds the same data (the rule etcd's
// own corruption check uses).
func (h *HashComparison) Mismatches() []string {
	byCompact := map[int64]map[uint32][]string{}
	for _, mh := range h.Hashes {
		if mh.Err != nil {
			continue
		}
		if byCompact[mh.CompactRevision] == nil {
			byCompact[mh.CompactRevision] = map[uint32][]string{}
		}
		byCompact[mh.CompactRevision][mh.Hash] = append(byCompact[mh.CompactRevision][mh.Hash], mh.Member.Label())
	}
	var out []string
	for compacted, hashes := range byCompact {
		if len(hashes) < 2 {
			continue
		}
		var parts []string
		for hash, who := range hashes {
			parts = append(parts, fmt.Sprintf("%08x on %s", hash, strings.Join(who, ",")))
		}
		sort.Strings(parts)
		out = append(out, fmt.Sprintf("revision %d (compacted at %d): %s", h.Revision, compacted, strings.Join(parts, "; ")))
	}
	sort.Strings(out)
	return out
}
