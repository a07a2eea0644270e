package member

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// addRetryPause is the pause between rounds over the voters. A refusal
// costs each voter one RPC and one log line, and the connectivity a refusal
// waits for arrives at an instant: 5 s after a peer stream came up.
const addRetryPause = 100 * time.Millisecond

// addOnVoters asks each started voter in turn to add the learner until one
// takes it, for up to o.Retry. etcd judges "unhealthy cluster" on the
// member that receives the MemberAdd, from its own transport: it must have
// been connected to every other voter for 5 s (a 3-voter cluster growing
// to 4 needs 3 connected, itself included). A learner that applied the
// leader's snapshot restarts its whole transport, and a voter whose stream
// to it broke meanwhile counts it as connected only from then: right after
// a replacement the member just promoted and some of the others refuse
// for up to 5 s, while a voter whose stream held takes the add at once.
//
// Only a refusal moves on to the next voter: etcd refuses before it
// proposes anything. Any other error (a deadline, a lost answer) may hide
// an add that happened, so it ends the add rather than risk a second one.
func addOnVoters(ctx context.Context, c *cluster.Cluster, ms *cluster.Membership, o AddOptions) (*clientv3.MemberAddResponse, error) {
	var voters []cluster.Member
	for _, m := range ms.Voters() {
		if m.Started() && m.Endpoint != "" {
			voters = append(voters, m)
		}
	}
	if len(voters) == 0 {
		return nil, fmt.Errorf("add %s: no started voter to connect to: %w", o.Name, cluster.ErrUnreachable)
	}
	deadline := time.Now().Add(o.Retry)
	for {
		var refused, unreachable error
		for _, v := range voters {
			resp, err := addOn(ctx, c, v, o.PeerURLs)
			switch {
			case err == nil:
				return resp, nil
			case errIsConnect(err):
				unreachable = err
				continue
			case !retriable(err):
				return nil, classifyAdd(o, err)
			}
			refused = err
		}
		if refused == nil {
			// No voter could be reached (the gate had just seen them all).
			return nil, classifyAdd(o, unreachable)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, classifyAdd(o, refused)
		}
		if o.OnRefused != nil {
			o.OnRefused(fmt.Sprintf("etcd refuses the add for now (%v): its strict reconfiguration check wants every voter connected to the others for 5 s; trying again for up to %s", refused, o.Retry))
			o.OnRefused = nil
		}
		t := time.NewTimer(addRetryPause)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// connectError is a voter that could not be reached: no RPC was sent.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

func errIsConnect(err error) bool {
	var ce *connectError
	return errors.As(err, &ce)
}

// addOn sends the MemberAdd to this voter alone, under the command timeout.
func addOn(ctx context.Context, c *cluster.Cluster, v cluster.Member, peerURLs []string) (*clientv3.MemberAddResponse, error) {
	actx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	cli, err := c.Client(actx, v.Endpoint)
	if err != nil {
		return nil, &connectError{fmt.Errorf("%s: %w", v.Label(), err)}
	}
	resp, err := cli.MemberAddAsLearner(actx, peerURLs)
	if err != nil {
		return nil, fmt.Errorf("on %s: %w", v.Label(), err)
	}
	return resp, nil
}
