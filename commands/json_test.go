package commands_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/health"
)

// With nothing reachable, status -o json still prints one JSON document that
// says why (and the reason goes to stderr too); exit 3.
func TestStatusJSONWithNothingReachableIsOneDocument(t *testing.T) {
	res := clitest.Run(t, nil, "status", "-o", "json", "--endpoints", "http://127.0.0.1:1", "--dial-timeout", "1s")
	var r health.StatusReport
	dec := json.NewDecoder(strings.NewReader(res.Stdout))
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, res.Stdout)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document on stdout:\n%s", res.Stdout)
	}
	if res.Code != 3 || r.Verdict != health.VerdictUnreachable || !strings.Contains(r.Error, "connection refused") || r.Members == nil {
		t.Fatalf("exit %d, verdict %q, error %q; want 3, unreachable, the reason", res.Code, r.Verdict, r.Error)
	}
	if !strings.HasPrefix(res.Stderr, "Error: ") {
		t.Fatalf("stderr %q: want the reason on one Error: line", res.Stderr)
	}
}
