package scenario_test

import (
	"os"
	"testing"

	"github.com/nettestlab/nettest/internal/testenv"
)

// TestMain runs this package's tests on private state: a /run/netns,
// /run/nettest and /tmp of their own (see testenv.Private).
func TestMain(m *testing.M) {
	testenv.Private()
	os.Exit(m.Run())
}
