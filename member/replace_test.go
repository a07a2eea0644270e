package member

import (
	"testing"
	"time"
)

// OLD counts as stopped only after stopProbes failed probes in a row that
// span stopSilence; an answer in between starts the count again.
func TestSilence(t *testing.T) {
	// saw measures the silence up to now: these probes began an hour ago.
	t0 := time.Now().Add(-time.Hour)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var s silence
	if s.saw(at(0), true) {
		t.Fatal("an answer counted as stopped")
	}
	// One failed probe long ago: silent for long enough, but one probe.
	if s.saw(at(10), false) {
		t.Fatal("one failed probe counted as stopped")
	}
	if s.saw(at(20), true) {
		t.Fatal("an answer counted as stopped")
	}
	if s.saw(at(30), false) || s.probes != 1 {
		t.Fatalf("an answer did not restart the count: %+v", s)
	}
	if !s.saw(at(130), false) {
		t.Fatal("two failed probes, silent for an hour: not stopped")
	}
	// Two quick failed probes just now: not silent for stopSilence yet.
	s = silence{}
	now := time.Now()
	if s.saw(now, false) || s.saw(now.Add(stopPoll), false) {
		t.Fatalf("silent for %s, judged stopped before %s", stopPoll, stopSilence)
	}
}
