package nettest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

const helperEnv = "NETTEST_TEST_HELPER"

// TestMain lets this test binary serve as a helper process: re-run with
// NETTEST_TEST_HELPER=name, it runs that helper instead of the tests.
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		testenv.SkipExamplesWithoutPrivilege()
		os.Exit(m.Run())
	case "unprivileged":
		unprivilegedHelper()
	case "sigkill":
		sigkillHelper()
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
// fail with ErrPrivilege and say how to run.
func TestWithoutPrivilege(t *testing.T) {
	testenv.RequirePrivilege(t) // dropping to nobody needs root
	if nettest.Rootless() {
		t.Skip("skipping: rootless, there is no other user to drop to")
	}
	// nobody may not enter go test's private build directory: run a copy.
	dir, err := os.MkdirTemp("", "nettest-unprivileged-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "nettest.test")
	data, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), helperEnv+"=unprivileged")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := string(out)
	require.Contains(t, s, "check: nettest: this process lacks CAP_SYS_ADMIN and CAP_NET_ADMIN: not enough privilege; run as root (sudo), with `go test -exec sudo`")
	require.Contains(t, s, "build: nettest: this process lacks CAP_SYS_ADMIN and CAP_NET_ADMIN: not enough privilege; run as root (sudo)")
	require.Contains(t, s, "unshare --user --map-root-user --net")

	// The suite itself, unprivileged: privileged tests and examples skip,
	// saying why, and the run passes.
	cmd = exec.Command(bin, "-test.run=^(TestSeed|ExampleBuild|TestValidate)$", "-test.v")
	cmd.Dir = dir
	cmd.Env = nil
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, testenv.RequirePrivilegeEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	s = string(out)
	require.Contains(t, s, "skipping examples: nettest: this process lacks CAP_SYS_ADMIN")
	require.Contains(t, s, "--- SKIP: TestSeed")
	require.Contains(t, s, "--- PASS: TestValidate")
	require.NotContains(t, s, "ExampleBuild")

	// With NETTEST_REQUIRE_PRIVILEGE=1 the same run fails instead of skipping.
	cmd = exec.Command(bin, "-test.run=^TestSeed$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), testenv.RequirePrivilegeEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err = cmd.CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), "NETTEST_REQUIRE_PRIVILEGE=1 but: nettest: this process lacks")
}

// TestCheckPrivilege: as root (how the tests run in CI) the check passes.
func TestCheckPrivilege(t *testing.T) {
	testenv.RequirePrivilege(t)
	require.NoError(t, nettest.CheckPrivilege())
}
