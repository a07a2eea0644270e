package status_test

import (
	"context"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// BenchmarkStatus runs `etcdmedic status -o json` end to end (connect, member
// list, parallel Status + /metrics, render) against a seeded 3-member cluster.
// The target: well under 0.5 s per run.
func BenchmarkStatus(b *testing.B) {
	c := playgroundtest.Start(b, playground.Options{Members: 3})
	playgroundtest.Seed(b, c, playground.DefaultSeed())
	args := []string{"status", "-o", "json", "--endpoints", endpoints(c)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ios, _, _ := iostreams.Test()
		if code := commands.Execute(context.Background(), args, ios, playgroundtest.Env()); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
