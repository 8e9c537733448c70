package nettest

import (
	"fmt"
	"os"
	"slices"
	"sync"
)

// programEnv names the registered program a re-executed binary is to run.
const programEnv = "_NETTEST_PROGRAM"

var programs struct {
	mu    sync.Mutex
	funcs map[string]func(args []string) error
}

// RegisterProgram registers a Go function that [Node.ProgramCommand] runs as
// a separate process inside a node: this binary (the test binary, say) run
// again, so that every goroutine of that program lives in the node's network
// namespace — the way to run a Go daemon whose goroutines dial and listen on
// their own. Call it from an init function of the package, so that the
// package's variables are set when the program runs:
//
//	func init() { nettest.RegisterProgram("echo-server", echoServer) }
//
//	func echoServer(args []string) error { ... }
//
// In the process started for it, RegisterProgram does not return: it runs
// main with the command's arguments and exits (status 0, or 1 with the error
// on stderr). Elsewhere it only records the function. Registering a name
// twice panics.
func RegisterProgram(name string, main func(args []string) error) {
	if os.Getenv(programEnv) == name {
		os.Unsetenv(programEnv)
		if err := main(os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	programs.mu.Lock()
	defer programs.mu.Unlock()
	if programs.funcs == nil {
		programs.funcs = map[string]func([]string) error{}
	}
	if programs.funcs[name] != nil {
		panic("nettest: program " + name + " registered twice")
	}
	programs.funcs[name] = main
}

// ProgramCommand returns the Cmd that runs the registered program name with
// the given arguments inside the node (see RegisterProgram). It runs as any
// Cmd does: its own PID namespace, the topology's /etc/hosts, Stop, WaitTCP.
func (n *Node) ProgramCommand(name string, args ...string) *Cmd {
	self, err := os.Executable()
	c := &Cmd{Path: self, Args: append([]string{name}, args...), node: n, program: name}
	switch {
	case err != nil:
		c.lookErr = fmt.Errorf("finding this program to run %s: %w", name, err)
	case !registered(name):
		c.lookErr = fmt.Errorf("no program %q registered (registered: %v); call nettest.RegisterProgram from an init function", name, registeredNames())
	}
	return c
}

func registered(name string) bool {
	programs.mu.Lock()
	defer programs.mu.Unlock()
	return programs.funcs[name] != nil
}

func registeredNames() []string {
	programs.mu.Lock()
	defer programs.mu.Unlock()
	var names []string
	for k := range programs.funcs {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
