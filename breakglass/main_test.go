package breakglass

import (
	"os"
	"testing"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	runJournalChildIfRequested()
	code := m.Run()
	playgroundtest.RemoveBinary() // the SIGKILL tests' built etcdmedic
	os.Exit(code)
}
