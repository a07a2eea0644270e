package cluster

import "testing"

func TestSameListener(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"http://127.0.0.1:2379/metrics", "http://127.0.0.1:2379", true},
		{"https://10.0.0.1:2379/metrics", "10.0.0.1:2379", true},
		{"http://127.0.0.1:2381/metrics", "https://127.0.0.1:2379", false},
		{"http://[::1]:2379/metrics", "https://[::1]:2379", true},
		{"", "https://127.0.0.1:2379", false},
	} {
		if got := sameListener(c.a, c.b); got != c.want {
			t.Errorf("sameListener(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
