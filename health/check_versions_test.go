package health

import "testing"

func TestKnownInconsistent(t *testing.T) {
	for v, want := range map[string]bool{
		"3.5.0": true, "3.5.5": true, "3.5.3-rc.0": true,
		"3.5.6": false, "3.5.35": false, "3.4.5": false, "3.6.0": false, "3.7.3": false, "garbage": false, "": false,
	} {
		if got := knownInconsistent(v); got != want {
			t.Errorf("knownInconsistent(%q) = %v, want %v", v, got, want)
		}
	}
}
