package examples_test

import (
	"os"
	"testing"

	"github.com/nettestlab/nettest/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Private()
	testenv.SkipExamplesWithoutPrivilege()
	os.Exit(m.Run())
}
