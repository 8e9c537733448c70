package nettest_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

const helperEnv = "NETTEST_TEST_HELPER"

// TestMain lets this test binary serve as a helper process: re-run with
// NETTEST_TEST_HELPER=name, it runs that helper instead of the tests.
func TestMain(m *testing.M) {
	testenv.Private()
	switch os.Getenv(helperEnv) {
	case "":
		testenv.SkipExamplesWithoutPrivilege()
		os.Exit(m.Run())
	case "unprivileged":
		unprivilegedHelper()
	case "sigkill":
		sigkillHelper()
	case "adoptkill":
		adoptKillHelper()
	case "execfiles":
		execFilesHelper()
	case "frrkill":
		frrKillHelper()
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// unprivilegedHelper reports what CheckPrivilege and Build say.
func unprivilegedHelper() {
	fmt.Println("check:", nettest.CheckPrivilege())
	_, err := nettest.Build(context.Background(), seedTopology())
	fmt.Println("build:", err)
	os.Exit(0)
}

// TestWithoutPrivilege runs CheckPrivilege and Build as user nobody: both
// fail with ErrPrivilege and say how to run. The suite itself, run as
// nobody, skips its privileged tests and examples saying why, or fails them
// with NETTEST_REQUIRE_PRIVILEGE=1.
func TestWithoutPrivilege(t *testing.T) {
	out, err := testenv.RunAsNobody(t, []string{"-test.run=^$"}, []string{helperEnv + "=unprivileged"})
	require.NoError(t, err, "%s", out)
	require.Contains(t, out, "check: nettest: this process lacks CAP_SYS_ADMIN and CAP_NET_ADMIN: not enough privilege; run as root (sudo), with `go test -exec sudo`")
	require.Contains(t, out, "build: nettest: this process lacks CAP_SYS_ADMIN and CAP_NET_ADMIN: not enough privilege; run as root (sudo)")
	require.Contains(t, out, "unshare --user --map-root-user --net")

	out, err = testenv.RunAsNobody(t, []string{"-test.run=^(TestSeed|ExampleBuild|TestValidate)$", "-test.v"}, nil)
	require.NoError(t, err, "%s", out)
	require.Contains(t, out, "skipping examples: nettest: this process lacks CAP_SYS_ADMIN")
	require.Contains(t, out, "--- SKIP: TestSeed")
	require.Contains(t, out, "--- PASS: TestValidate")
	require.NotContains(t, out, "ExampleBuild")

	out, err = testenv.RunAsNobody(t, []string{"-test.run=^TestSeed$"}, []string{testenv.RequirePrivilegeEnv + "=1"})
	require.Error(t, err, "%s", out)
	require.Contains(t, out, "NETTEST_REQUIRE_PRIVILEGE=1 but: nettest: this process lacks")
}

// TestCheckPrivilege: as root (how the tests run in CI) the check passes.
func TestCheckPrivilege(t *testing.T) {
	testenv.RequirePrivilege(t)
	require.NoError(t, nettest.CheckPrivilege())
}
