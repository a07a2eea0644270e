package member

import (
	"errors"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// A refusal still electing when the gate stopped looking says so and that
// running again is what to do; one for a member that does not answer does
// not (waiting would not help).
func TestGateRefusalSaysWhenAnElectionDidNotSettle(t *testing.T) {
	electingRefusal := &health.Refusal{Gate: "remove member 1", Findings: []health.Finding{
		{ID: "reads.linearizable", Member: "2", MemberName: "m1", Observed: "context deadline exceeded"},
	}}
	err := (&Gate{Refusal: electingRefusal}).Err("remove m3")
	if !errors.Is(err, fault.Refused) || !strings.Contains(err.Error(), "no leader settled within 5s: run this again once one is") {
		t.Fatalf("electing refusal: %v; want it refused, saying no leader settled and to run again", err)
	}
	silent := &health.Refusal{Gate: "remove member 1", Findings: []health.Finding{
		{ID: "status.reachable", Member: "2", MemberName: "m1", Observed: "does not answer"},
		{ID: "reads.linearizable", Member: "2", MemberName: "m1", Observed: "context deadline exceeded"},
	}}
	if err := (&Gate{Refusal: silent}).Err("remove m3"); strings.Contains(err.Error(), "settled") {
		t.Fatalf("refusal for a silent member: %v; want no election note", err)
	}
}
