package testenv

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/nettestlab/nettest/fixtures"
	"github.com/nettestlab/nettest/nettest"
)

// RequirePrivilegeEnv names the variable that turns a missing privilege from
// a skip into a failure. .ci/run sets it, so that no privileged test can skip
// silently in CI.
const RequirePrivilegeEnv = fixtures.RequirePrivilegeEnv

// RequirePrivilege skips the test with a one-line reason when the process
// cannot build topologies, or fails it when NETTEST_REQUIRE_PRIVILEGE=1: the
// rule users get from fixtures.RequirePrivilege.
func RequirePrivilege(t testing.TB) {
	t.Helper()
	fixtures.RequirePrivilege(t)
}

// SkipExamplesWithoutPrivilege is for TestMain, before m.Run: when the
// process cannot build topologies (and NETTEST_REQUIRE_PRIVILEGE is not 1),
// it adds the Example functions to -test.skip and says why on stderr. The
// examples build real topologies and check their output; Go gives them no
// way to skip themselves.
func SkipExamplesWithoutPrivilege() {
	if !flag.Parsed() {
		flag.Parse()
	}
	err := nettest.CheckPrivilege()
	if err == nil || os.Getenv(RequirePrivilegeEnv) == "1" {
		return
	}
	skip := flag.Lookup("test.skip")
	if skip == nil {
		return
	}
	pattern := "^Example"
	if cur := skip.Value.String(); cur != "" {
		pattern = cur + "|" + pattern
	}
	if skip.Value.Set(pattern) == nil {
		fmt.Fprintf(os.Stderr, "skipping examples: %v\n", err)
	}
}

// SkipIfRootless skips a test that needs root in the host's user namespace
// (mounting on /run/netns, say) when the process runs rootless in a user
// namespace of its own.
func SkipIfRootless(t testing.TB, why string) {
	t.Helper()
	if nettest.Rootless() {
		t.Skipf("skipping: %s needs root in the host's user namespace; this test runs rootless", why)
	}
}

// RunAsNobody runs this test binary again as user nobody (uid 65534), with
// the given arguments and extra environment, and returns its combined
// output. NETTEST_REQUIRE_PRIVILEGE is removed from the environment unless
// env sets it. It skips the test when it cannot drop to nobody (not root, or
// rootless).
func RunAsNobody(t testing.TB, args, env []string) (string, error) {
	t.Helper()
	RequirePrivilege(t)
	if nettest.Rootless() || os.Getuid() != 0 {
		t.Skip("skipping: dropping to user nobody needs root in the host's user namespace")
	}
	// nobody may not enter go test's private build directory: run a copy.
	dir, err := os.MkdirTemp("", "nettest-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, filepath.Base(os.Args[0]))
	data, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, RequirePrivilegeEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// RequireToolsEnv names the variable that turns a missing external tool
// (bird, ping, tshark ...) from a skip into a failure; .ci/run sets it after
// installing them.
const RequireToolsEnv = "NETTEST_REQUIRE_TOOLS"

// RequireTools skips the test when a program it runs is not in PATH, or
// fails it when NETTEST_REQUIRE_TOOLS=1.
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("needs %s in PATH", strings.Join(missing, ", "))
	if os.Getenv(RequireToolsEnv) == "1" {
		t.Fatalf("%s=1 but the test %s", RequireToolsEnv, msg)
	}
	t.Skipf("skipping: the test %s", msg)
}

// hostState is the lock of LockHostState.
var hostState sync.Mutex

// LockHostState makes the test wait for, then hold until it ends, a lock
// shared by the tests of this process that snapshot the host's network
// state, count the process's threads, or make and clean named namespaces,
// so that they do not show up in one another's snapshots. Other test
// processes cannot disturb them: each test binary runs with a /run/netns,
// /run/nettest and /tmp of its own ([Private]), and no test changes the
// host's network namespace. The lock is in memory: it leaves nothing
// behind.
func LockHostState(t testing.TB) {
	t.Helper()
	hostState.Lock()
	t.Cleanup(hostState.Unlock)
}

// RequireFRR skips the test when it runs rootless, or when FRR is not installed — vtysh in PATH,
// zebra, staticd and the daemons named in one of nettest.FRRDirs — or
// fails it when NETTEST_REQUIRE_TOOLS=1.
func RequireFRR(t testing.TB, daemons ...string) {
	t.Helper()
	SkipIfRootless(t, "FRR (its daemons switch to user frr, who has no ID in a rootless user namespace)")
	tools := []string{"vtysh"}
	for _, d := range append([]string{"zebra", "staticd"}, daemons...) {
		path := filepath.Join(nettest.FRRDirs[0], d)
		for _, dir := range nettest.FRRDirs {
			if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
				path = filepath.Join(dir, d)
				break
			}
		}
		tools = append(tools, path)
	}
	RequireTools(t, tools...)
}
