package breakglass

import (
	"os"
	"testing"

	"github.com/etcdmedic/etcdmedic/playground"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	runJournalChildIfRequested()
	os.Exit(m.Run())
}
