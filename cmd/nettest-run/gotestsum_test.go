package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nettestlab/nettest/internal/testenv"
)

// TestGotestsumRecipe runs the README's gotestsum recipe as written,
// `gotestsum --raw-command -- nettest-run run --json FILE`: gotestsum must
// show the failed step and exit 1 when a step fails, and exit 0 when every
// step passes. (Piping `run --json` into `gotestsum --raw-command -- cat`
// instead exits 0 whatever the scenario did: gotestsum takes the exit code
// of its command.)
func TestGotestsumRecipe(t *testing.T) {
	testenv.RequirePrivilege(t)
	testenv.RequireTools(t, "gotestsum")
	for _, c := range []struct {
		name, src string
		code      int
		want      string
	}{
		{"failing", failing, 1, "failing/02 no ping red -> blue (0"},
		{"passing", strings.Replace(failing, "  - no-ping: {from: red, to: blue}\n", "", 1), 0, "DONE 3 tests in"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := scenarioFile(t, c.name+".yaml", c.src)
			cmd := exec.Command("gotestsum", "--format", "standard-verbose", "--raw-command", "--")
			if bin != "" {
				cmd.Args = append(cmd.Args, bin)
			} else {
				cmd.Args = append(cmd.Args, os.Args[0])
				cmd.Env = append(os.Environ(), runAsCLI+"=1")
			}
			cmd.Args = append(cmd.Args, "run", "--json", "--set", "NAME="+c.name, file)
			out, err := cmd.CombinedOutput()
			t.Logf("%s\n%s", strings.Join(cmd.Args, " "), out)
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.code {
				t.Errorf("gotestsum exited %d, want %d", code, c.code)
			}
			// gotestsum names the package (the file) relative to the
			// working directory: look for the test's name.
			if !strings.Contains(string(out), c.want) {
				t.Errorf("gotestsum's output has no %q", c.want)
			}
			if c.code != 0 && !strings.Contains(string(out), "=== FAIL: ") {
				t.Errorf("gotestsum's output has no === FAIL: section")
			}
		})
	}
}
