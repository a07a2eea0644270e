package playground

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// outliveOutput keeps the playground alive to clean up after its output is
// gone. Without it, `etcdmedic playground 2>&1 | tee log` and Ctrl-C kill the
// reader first; the next write ("stopping the playground...") then raises
// SIGPIPE, the runtime exits at once, and the members' data stays behind. A
// closed terminal (SIGHUP) stops the playground like Ctrl-C.
func outliveOutput(ctx context.Context) (context.Context, func()) {
	// Notified rather than ignored: an ignored SIGPIPE would be inherited
	// by the member processes.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
	return ctx, func() {
		stop()
		signal.Stop(pipe)
	}
}
