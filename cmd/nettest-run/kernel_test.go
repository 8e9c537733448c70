package main

import (
	"strings"
	"testing"

	"github.com/nettestlab/nettest/internal/testenv"
)

// TestKernelRefusals: a sysctl the kernel has not, or will not take, in a
// node's namespace is reported at its key by validate (as root, which can
// ask the kernel), run and up before anything is built, with exit 2 for
// the invalid input; it was an exit 1 "setup" failure without a position.
func TestKernelRefusals(t *testing.T) {
	testenv.RequirePrivilege(t)
	file := scenarioFile(t, "sysctl.yaml", `name: `+uniq("sysctl")+`
topology:
  nodes:
    - name: a
      sysctls:
        net.core.rmem_max: 1000000
        net.ipv4.tcp_congestion_control: no-such-algorithm
    - b
  links:
    - endpoints: [a, b]
steps:
  - ping: {from: a, to: b}
`)
	want := []string{
		file + `:6:9: node a: sysctl net.core.rmem_max: not writable in a node's network namespace (permission denied)`,
		file + `:7:42: node a: sysctl net.ipv4.tcp_congestion_control: the kernel refused value "no-such-algorithm" (no such file or directory)`,
	}
	for _, cmd := range []string{"validate", "run", "up"} {
		out, errOut, code := cli(t, "", cmd, file)
		if code != 2 || !strings.Contains(errOut, strings.Join(want, "\n")) || strings.Contains(out+errOut, "setup") {
			t.Errorf("%s: exit %d, want 2 and\n%s", cmd, code, strings.Join(want, "\n"))
		}
	}
}
