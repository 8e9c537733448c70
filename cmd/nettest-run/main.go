// Command nettest-run runs scenario files (a topology of network namespaces
// and the steps to check on it) in the manner of go test, and keeps
// topologies up to explore with ip, ping and tcpdump.
//
//	nettest-run                         run the built-in demo (the seed tutorial)
//	nettest-run run FILE|DIR...         build, run the steps, tear down
//	nettest-run validate FILE|DIR...    check files; needs no privilege
//	nettest-run up FILE                 build and leave it up (named namespaces)
//	nettest-run status [LAB] [--json]   what is up: nodes, links, addresses, processes
//	nettest-run exec LAB NODE CMD...    run a command inside a node
//	nettest-run shell LAB NODE          a shell inside a node
//	nettest-run link LAB LINK down|up|flap   change a link of a lab
//	nettest-run impair LAB LINK --delay D ...  impair a link (or --clear)
//	nettest-run partition LAB NODE...   cut nodes off; heal LAB undoes it
//	nettest-run pingall LAB             the reachability matrix of a lab
//	nettest-run capture LAB NODE:IFACE -w -   live pcapng (| tshark -r -)
//	nettest-run down LAB                tear a topology down
//	nettest-run clean                   remove everything nettest-run left
//	nettest-run graph FILE|LAB          the topology as a Mermaid or DOT diagram
//	nettest-run completion bash|zsh|fish|powershell   a shell completion script
//	nettest-run --version               the version, from the build information
//
// Every command answers --help. Flags are go test's: anywhere among the
// arguments, with one dash or two (-run X, --run X).
//
// Exit codes: 0 everything passed, 1 a step failed, 2 invalid input or
// usage, or nettest-run cannot run (privilege), 127 exec of a program that
// cannot be run, 130 and 143 interrupted by SIGINT or SIGTERM (torn down).
// See docs/scenarios.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

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

// mainCode runs the command line args and returns the exit code. Errors
// are printed on stderr, a usage error with the usage of its command.
func mainCode(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(normaliseArgs(root, args))
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		if !ranCommand(cmd) {
			// The command library refused the command line (an
			// argument a command takes none of, say): usage.
			ee = &exitError{2, "usage: " + err.Error()}
		} else {
			fmt.Fprintln(stderr, "nettest-run: "+err.Error())
			return 1
		}
	}
	if ee.msg != "" {
		fmt.Fprintln(stderr, "nettest-run: "+ee.msg)
	}
	if ee.code == 2 && strings.HasPrefix(ee.msg, "usage") && cmd != nil {
		if use := cmd.UseLine(); cmd.HasParent() && !strings.Contains(ee.msg, strings.TrimPrefix(use, root.Name()+" ")) {
			fmt.Fprintln(stderr, "usage: "+use)
		}
		fmt.Fprintf(stderr, "Run '%s --help' for more.\n", cmd.CommandPath())
	}
	return ee.code
}
