// Command nettest-run runs scenario files (a topology of network namespaces
// and the steps to check on it) in the manner of go test, and keeps
// topologies up to explore with ip, ping and tcpdump.
//
//	nettest-run                         run the built-in demo (the seed tutorial)
//	nettest-run run FILE...             build, run the steps, tear down
//	nettest-run validate FILE...        check files; needs no privilege
//	nettest-run up FILE                 build and leave it up (named namespaces)
//	nettest-run status                  what is up: nodes, addresses, processes
//	nettest-run exec NAME NODE -- CMD   run a command inside a node
//	nettest-run shell NAME NODE         a shell inside a node
//	nettest-run down NAME               tear a topology down
//	nettest-run clean                   remove everything nettest-run left
//	nettest-run graph FILE              the topology as a Mermaid or DOT diagram
//
// Exit codes: 0 everything passed, 1 a step failed, 2 invalid input or
// usage, or nettest-run cannot run (privilege), 130 and 143 interrupted by
// SIGINT or SIGTERM (torn down). See docs/nettest-run.md and
// docs/scenarios.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `usage:
  nettest-run [demo]                     run the built-in example (the seed tutorial)
  nettest-run run [flags] FILE...        build each topology, run its steps, tear it down
      -run REGEX          only the checks whose name matches ("seed/02", "ping")
      --set NAME=VALUE    set a parameter the file declares (repeatable)
      --junit FILE        write a JUnit XML report
      --json              print test2json events (for gotestsum) instead of text
      --keep-on-failure   leave a failed topology up to explore
      --artifacts DIR     keep every capture in DIR/<scenario>/ (default: $NETTEST_ARTIFACTS;
                          without it, captures are kept only when a scenario fails)
      -failfast           stop at the first failed step
      --max-size SIZE     read scenario files up to SIZE (default 8MiB; also for validate, up, graph)
  nettest-run validate [--set NAME=VALUE] FILE...   check files (no privilege needed)
  nettest-run up [--set NAME=VALUE] FILE  build a topology and leave it up
  nettest-run status                     list the topologies up, their nodes and processes
  nettest-run exec NAME NODE -- CMD...   run a command inside a node of a topology that is up
  nettest-run shell NAME NODE            a shell inside a node
  nettest-run down NAME                  tear a topology down
  nettest-run clean                      remove every namespace, process and state file nettest-run left
  nettest-run graph [--format mermaid|dot] FILE   print the topology as a diagram

exit codes: 0 passed, 1 a step failed, 2 invalid input or usage (or no privilege)
            130/143 interrupted by SIGINT/SIGTERM (torn down; the files not run are named)
`

// exitError carries an exit code; its message, if any, is printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &exitError{2, fmt.Sprintf(format, args...)}
}

func main() {
	os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr))
}

func mainCode(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "nettest-run: "+ee.msg)
		}
		if ee.code == 2 && strings.HasPrefix(ee.msg, "usage") {
			fmt.Fprint(stderr, usage)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "nettest-run: "+err.Error())
	return 1
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cmdDemo(nil, stdout, stderr)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return cmdDemo(rest, stdout, stderr)
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "up":
		return cmdUp(rest, stdout, stderr)
	case "down":
		return cmdDown(rest, stdout, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "exec":
		return cmdExec(rest, stdout, stderr)
	case "shell":
		return cmdShell(rest, stdout, stderr)
	case "clean":
		return cmdClean(rest, stdout, stderr)
	case "graph":
		return cmdGraph(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError("usage: unknown command %q", cmd)
}

// setFlag collects --set NAME=VALUE.
type setFlag map[string]string

func (s setFlag) String() string { return "" }

func (s setFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	s[k] = val
	return nil
}

// parseFlags parses flags anywhere among the arguments (go test allows
// "run FILE -run X"), stopping at "--", and returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError("usage: %s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
