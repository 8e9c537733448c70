package main

import (
	"strings"
	"testing"

	"github.com/nettestlab/nettest/internal/testenv"
)

const execLab = `name: ${NAME}
params: {NAME: pair}
topology:
  nodes: [h1, h2]
  links:
    - endpoints: [h1, h2]
`

// TestExecNamesMissingProgram: exec of a program that cannot be run says
// which program and which node, and exits 127 as a shell does.
func TestExecNamesMissingProgram(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
	name := uniq("execmiss")
	file := scenarioFile(t, "pair.yaml", execLab)
	t.Cleanup(func() { cli(t, "", "down", name) })
	if _, _, code := cli(t, "", "up", "--set", "NAME="+name, file); code != 0 {
		t.Fatalf("up: exit %d", code)
	}
	for _, c := range []struct{ program, want string }{
		{"/no/such/binary", "nettest-run: nettest: node h1: /no/such/binary: no such file or directory\n"},
		{"nettest-no-such-program", "nettest-run: nettest: node h1: nettest-no-such-program: executable file not found in $PATH\n"},
	} {
		_, errOut, code := cli(t, "", "exec", name, "h1", "--", c.program, "arg")
		if code != 127 || !strings.HasSuffix(errOut, c.want) {
			t.Errorf("exec %s: exit %d, stderr %q; want exit 127, stderr ending %q", c.program, code, errOut, c.want)
		}
	}
}
