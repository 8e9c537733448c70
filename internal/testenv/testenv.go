package testenv

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/nettestlab/nettest/nettest"
)

// RequirePrivilegeEnv names the variable that turns a missing privilege from
// a skip into a failure. .ci/run sets it, so that no privileged test can skip
// silently in CI.
const RequirePrivilegeEnv = "NETTEST_REQUIRE_PRIVILEGE"

// RequirePrivilege skips the test with a one-line reason when the process
// cannot build topologies, or fails it when NETTEST_REQUIRE_PRIVILEGE=1.
func RequirePrivilege(t testing.TB) {
	t.Helper()
	if err := nettest.CheckPrivilege(); err != nil {
		if os.Getenv(RequirePrivilegeEnv) == "1" {
			t.Fatalf("%s=1 but: %v", RequirePrivilegeEnv, err)
		}
		t.Skipf("skipping: %v", err)
	}
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
