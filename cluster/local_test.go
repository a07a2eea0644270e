package cluster

import "testing"

func TestStopGRPCServiceOnDefrag(t *testing.T) {
	for _, tc := range []struct {
		flags map[string]string
		want  bool
	}{
		{map[string]string{"feature-gates": "StopGRPCServiceOnDefrag=true"}, true},
		{map[string]string{"feature-gates": "InitialCorruptCheck=true, StopGRPCServiceOnDefrag=true"}, true},
		{map[string]string{"feature-gates": "StopGRPCServiceOnDefrag=false"}, false},
		{map[string]string{"feature-gates": "StopGRPCServiceOnDefrag=yes"}, false},
		{map[string]string{"feature-gates": "NotStopGRPCServiceOnDefrag=true"}, false},
		{map[string]string{"feature-gates": ""}, false},
		{map[string]string{"experimental-stop-grpc-service-on-defrag": "true"}, true},
		{nil, false},
	} {
		l := &LocalMember{Flags: tc.flags}
		if got := l.StopGRPCServiceOnDefrag(); got != tc.want {
			t.Errorf("flags %v: StopGRPCServiceOnDefrag() = %v, want %v", tc.flags, got, tc.want)
		}
	}
}
