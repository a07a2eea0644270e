package status_test

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// An alarm is critical (exit 2) even though every member answers: a NOSPACE
// cluster accepts no writes.
func TestStatusNospaceAlarm(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3, QuotaBytes: 8 << 20})
	playgroundtest.FillUntilNospace(t, c)
	res := clitest.Run(t, nil, "status", "-o", "json", "--endpoints", endpoints(c))
	if res.Code != 2 {
		t.Fatalf("exit %d with a NOSPACE alarm, want 2", res.Code)
	}
	r := decode(t, res.Stdout)
	if len(r.Alarms) == 0 || r.Alarms[0].Alarm != "NOSPACE" {
		t.Fatalf("alarms = %+v", r.Alarms)
	}
	raised := 0
	for _, m := range r.Members {
		if len(m.Alarms) > 0 {
			raised++
			if m.Alarms[0] != "NOSPACE" || m.Verdict != "critical" {
				t.Fatalf("member %s: alarms %v verdict %s", m.Name, m.Alarms, m.Verdict)
			}
		}
	}
	if raised == 0 {
		t.Fatal("no member row carries the alarm")
	}
	table := clitest.Run(t, nil, "status", "--endpoints", endpoints(c))
	if !strings.Contains(table.Stdout, "alarm NOSPACE on m") {
		t.Fatalf("table does not explain the alarm:\n%s", table.Stdout)
	}
}
