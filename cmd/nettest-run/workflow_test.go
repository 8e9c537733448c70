package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/nettestlab/nettest/internal/testenv"
)

// userWorkflow is the GitHub Actions workflow users copy into their own
// repository.
const userWorkflow = "../../examples/ci/github-actions.yml"

// TestUserWorkflowCommand runs the nettest-run command line of the users'
// workflow as written (the matrix's shard 1 of 3, the seed example in
// place of the user's folder): its flags must exist, it must pass, and
// the JUnit report it names must be written. actionlint checks the rest of
// the file in .ci/run.
func TestUserWorkflowCommand(t *testing.T) {
	testenv.RequirePrivilege(t)
	src, err := os.ReadFile(userWorkflow)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("skipping: not run from the source tree (as CI's rootless runs are)")
	}
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Steps []struct{ Run string }
		}
	}
	if err := yaml.Unmarshal(src, &wf); err != nil {
		t.Fatalf("%s: %v", userWorkflow, err)
	}
	var args []string
	for _, job := range wf.Jobs {
		for _, step := range job.Steps {
			fields := strings.Fields(step.Run)
			for i, f := range fields {
				if strings.HasSuffix(f, `/bin/nettest-run"`) && i+1 < len(fields) && fields[i+1] == "run" {
					args = fields[i+1:]
				}
			}
		}
	}
	if args == nil {
		t.Fatalf("%s runs no `nettest-run run`", userWorkflow)
	}
	dir := t.TempDir()
	scenarios := filepath.Join(dir, "scenarios")
	if err := os.MkdirAll(scenarios, 0o755); err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile(example("seed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scenarios, "seed.yaml"), seed, 0o644); err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	line = strings.ReplaceAll(line, "${{ matrix.shard }}", "1")
	args = strings.Fields(line)
	if last := args[len(args)-1]; last != "scenarios/" {
		t.Fatalf("the workflow's command ends with %q, not the scenarios folder", last)
	}
	for i, a := range args {
		switch {
		case a == "scenarios/":
			args[i] = scenarios
		case strings.HasPrefix(a, "junit-"), a == "artifacts":
			args[i] = filepath.Join(dir, a)
		}
	}
	out, errOut, code := cli(t, "", args...)
	if code != 0 {
		t.Fatalf("nettest-run %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	junit, err := os.ReadFile(filepath.Join(dir, "junit-scenarios-1.xml"))
	if err != nil {
		t.Fatalf("the JUnit report the workflow publishes: %v", err)
	}
	if !strings.Contains(string(junit), `<testsuite name="seed"`) {
		t.Errorf("the JUnit report has no testsuite for seed:\n%s", junit)
	}
}
