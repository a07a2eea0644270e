package commands_test

import (
	"os"
	"testing"

	"github.com/etcdmedic/etcdmedic/playground"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}
