package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/nettest"
)

// The command line: which command runs, its flags and its help. What each
// command does is in run.go (run, demo), topo.go (validate, graph, up,
// down, clean, exec, shell, status) and status.go (status --json).

const rootLong = `nettest-run runs scenario files — a topology of network namespaces and the
steps to check on it, in YAML — in the manner of go test, and keeps
topologies up (labs) to explore with ip, ping and tcpdump. With no command,
it runs the built-in demo (the seed tutorial).

Flags are go test's: anywhere among the arguments, with one dash or two
(run FILE -run X, --run X). Scenario files: docs/scenarios.md.

Exit codes: 0 passed, 1 a step failed, 2 invalid input or usage (or no
privilege), 127 exec of a program that cannot be run, 130/143 interrupted
by SIGINT/SIGTERM (torn down; the files not run are named).`

// flagsBeforeArgs marks a command whose flags all come before its first
// argument: what follows is another program's command line (exec).
const flagsBeforeArgs = "nettest-run/flags-before-args"

// ranKey marks, at run time, a command whose own code ran: an error from
// it is the command's; any other error is the command line's (usage).
const ranKey = "nettest-run/ran"

// newRoot returns the command tree, writing to stdout and stderr.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "nettest-run",
		Short: "run network scenario files in namespaces, or keep them up to explore",
		Long:  rootLong,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("usage: unknown command %q%s", args[0], suggest(c, args[0]))
			}
			return nil
		},
		RunE: ran(func(c *cobra.Command, args []string) error {
			return cmdDemo(false, stdout, stderr)
		}),
		Version:           version(),
		SilenceErrors:     true,
		SilenceUsage:      true,
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	root.SuggestionsMinimumDistance = 2
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("usage: %s: %v", c.Name(), err)
	})
	root.AddGroup(&cobra.Group{ID: "files", Title: "Scenario files:"}, &cobra.Group{ID: "labs", Title: "Labs (topologies left up to explore):"}, &cobra.Group{ID: "change", Title: "Changing a lab that is up:"})
	for _, c := range []*cobra.Command{demoCommand(stdout, stderr), runCommand(stdout, stderr), validateCommand(stdout, stderr), graphCommand(stdout, stderr)} {
		c.GroupID = "files"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{upCommand(stdout, stderr), statusCommand(stdout, stderr), execCommand(stdout, stderr), shellCommand(stdout, stderr), downCommand(stdout, stderr), cleanCommand(stdout, stderr)} {
		c.GroupID = "labs"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{linkCommand(stdout, stderr), impairCommand(stdout, stderr), partitionCommand(stdout, stderr), healCommand(stdout, stderr), pingallCommand(stdout, stderr), captureCommand(stdout, stderr)} {
		c.GroupID = "change"
		root.AddCommand(c)
	}
	root.AddCommand(superviseCommand())
	for _, c := range root.Commands() {
		c.DisableFlagsInUseLine = true // each Use says its flags
	}
	return root
}

// ran wraps a command's code so that mainCode knows it ran.
func ran(fn func(c *cobra.Command, args []string) error) func(c *cobra.Command, args []string) error {
	return func(c *cobra.Command, args []string) error {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[ranKey] = "yes"
		return fn(c, args)
	}
}

// ranCommand reports whether the command's own code ran.
func ranCommand(c *cobra.Command) bool {
	return c != nil && c.Annotations[ranKey] != ""
}

// suggest returns " (did you mean ...?)" for a mistyped command, or "".
func suggest(c *cobra.Command, arg string) string {
	if s := c.SuggestionsFor(arg); len(s) > 0 {
		return " (did you mean " + strings.Join(s, " or ") + "?)"
	}
	return ""
}

// normaliseArgs turns go test's single-dash long flags (-run X, -failfast,
// -json=false, -help) into the double-dash ones the command library
// parses; a single dash and one letter stays a shorthand (-h). It leaves
// alone what follows "--", the value of a flag that takes one, and the
// arguments of a command whose flags come before its arguments (exec's
// program and its flags) from the first one on.
func normaliseArgs(root *cobra.Command, args []string) []string {
	out := make([]string, 0, len(args))
	cmd := root
	sub := false // the subcommand is found
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if !sub {
				found := false
				for _, c := range root.Commands() {
					if c.Name() == a || c.HasAlias(a) {
						cmd, found = c, true
					}
				}
				if !found { // help, completion, an unknown command: as given
					return append(out, args[i:]...)
				}
				sub = true
			} else if cmd.Annotations[flagsBeforeArgs] != "" {
				return append(out, args[i:]...)
			}
			out = append(out, a)
			continue
		}
		if !strings.HasPrefix(a, "--") && len(a) > 2 {
			a = "-" + a
		}
		out = append(out, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if f := cmd.Flags().Lookup(name); f != nil && !hasValue && f.NoOptDefVal == "" && strings.HasPrefix(a, "--") && i+1 < len(args) {
			i++ // the flag's value, whatever it looks like
			out = append(out, args[i])
		}
	}
	return out
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

// Type names the flag's value in help.
func (s setFlag) Type() string { return "NAME=VALUE" }

// setFlagOn adds --set to a command that reads scenario files.
func setFlagOn(fs *pflag.FlagSet) setFlag {
	set := setFlag{}
	fs.Var(set, "set", "set a parameter the file declares (repeatable)")
	return set
}

// scenarioFiles completes scenario files (and folders, for run and validate).
func scenarioFiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml"}, cobra.ShellCompDirectiveFilterFileExt
}

// labNames completes the names of the labs that are up, as the first
// argument, and their nodes as the second when node is set.
func labNames(node bool) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		switch {
		case len(args) == 0:
			names, _ := lab.UpNames()
			return names, cobra.ShellCompDirectiveNoFileComp
		case len(args) == 1 && node:
			st, err := lab.Read(args[0])
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var nodes []string
			for _, n := range st.Topology.Nodes {
				nodes = append(nodes, n.Name)
			}
			return nodes, cobra.ShellCompDirectiveNoFileComp
		case node:
			return nil, cobra.ShellCompDirectiveDefault // exec's command
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func demoCommand(stdout, stderr io.Writer) *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:               "demo [--json]",
		Short:             "run the built-in example (the seed tutorial); also nettest-run alone",
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print test2json events (for gotestsum) instead of text")
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageError("usage: demo takes no files (use run FILE)")
		}
		return cmdDemo(jsonOut, stdout, stderr)
	})
	return c
}

func runCommand(stdout, stderr io.Writer) *cobra.Command {
	var o runFlags
	c := &cobra.Command{
		Use:   "run [flags] FILE|DIR...",
		Short: "build each topology, run its steps, tear it down",
		Long: `run builds each scenario's topology, runs its steps and tears it down, one
file after another. A folder stands for its *.yaml files, in name order.
Every file is checked before anything is built.`,
		Example: `  nettest-run run examples/scenarios/seed.yaml
  nettest-run run examples/scenarios/ -run ping
  nettest-run run --set PINGS=5 --junit report.xml lab.yaml`,
		ValidArgsFunction: scenarioFiles,
	}
	fs := c.Flags()
	o.set = setFlagOn(fs)
	fs.StringVar(&o.run, "run", "", "only the checks whose name matches the regular expression `REGEX` (\"seed/02\", \"ping\")")
	fs.StringVar(&o.junit, "junit", "", "write a JUnit XML report to `FILE`")
	fs.BoolVar(&o.json, "json", false, "print test2json events (for gotestsum) instead of text")
	fs.BoolVar(&o.keep, "keep-on-failure", false, "leave a failed topology up to explore")
	fs.StringVar(&o.artifacts, "artifacts", os.Getenv(nettest.ArtifactsEnv), "keep every capture in `DIR`/<scenario>/ (default $"+nettest.ArtifactsEnv+"; without it, captures are kept only when a scenario fails)")
	fs.BoolVar(&o.failFast, "failfast", false, "stop at the first failed step")
	fs.StringVar(&o.shard, "shard", "", "run only shard `K/N` of the files (1 <= K <= N): the i-th file in sorted order goes to shard (i mod N)+1, so N CI jobs with 1/N ... N/N run every file once")
	o.maxSize = maxSizeFlag(fs)
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		return cmdRun(args, &o, stdout, stderr)
	})
	return c
}

func validateCommand(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "validate [--set NAME=VALUE] FILE|DIR...",
		Short: "check scenario files (no privilege needed)",
		Long: `validate checks scenario files without building anything, and needs no
privilege. Every problem is reported at once, one file:line:col: message
line each, and the exit code is 2. A folder stands for its *.yaml files.`,
		ValidArgsFunction: scenarioFiles,
	}
	set := setFlagOn(c.Flags())
	maxSize := maxSizeFlag(c.Flags())
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		return cmdValidate(args, set, *maxSize, stdout, stderr)
	})
	return c
}

func upCommand(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "up [--set NAME=VALUE] FILE",
		Short: "build a topology and leave it up (a lab)",
		Long: `up builds a scenario's topology, starts its processes and leaves them up,
with named namespaces (ip netns exec nettest-LAB.NODE ...): a lab. Its steps
are not run. A supervisor process (pid and log in status) builds and keeps
it — the forwarders of userspace-impaired links, captures, partitions — and
up returns once the lab is up, or prints why not having left nothing.
status shows it, exec and shell enter it; link, impair, partition, heal,
pingall, capture and graph change and show it; down removes it.`,
		Example: `  nettest-run up examples/scenarios/routed.yaml
  nettest-run up --set NAME=lab2 lab.yaml`,
		ValidArgsFunction: scenarioFiles,
	}
	set := setFlagOn(c.Flags())
	maxSize := maxSizeFlag(c.Flags())
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		return cmdUp(args, set, *maxSize, stdout, stderr)
	})
	return c
}

func statusCommand(stdout, stderr io.Writer) *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:   "status [LAB] [--json]",
		Short: "the labs that are up: nodes, links, addresses, processes",
		Long: `status lists the labs that are up (or only LAB): its supervisor, each node
with its interfaces, addresses and the processes in its namespace, each
link with its ends, state, impairment and the mechanism that makes it, and
the partitions. A lab whose supervisor was killed is gone: status says so,
and down or clean removes what it left.

--json prints one JSON object instead (docs/lab-status.schema.json):
  {"labs": [{"name", "state", "by", "file", "created", "error",
             "supervisor": {"pid", "alive", "log", "socket"},
             "nodes": [{"name", "kind", "namespace",
                        "interfaces": [{"name", "state", "mtu", "mac", "addresses"}],
                        "processes": [{"pid", "command", "name"}]}],
             "links": [{"name", "up", "state", "mechanism",
                        "impairment": {"a-b", "b-a"},
                        "a": {"node", "interface", "addresses"}, "b": {...}}],
             "partitions": [{"name", "cut", "links"}]}]}
state is "up", "incomplete" (being brought up, or its maker ended first),
"gone" (its supervisor ended without taking it down), "unreachable" (error
says why) or "persisted" (namespaces nettest kept without a lab record);
kind is "host", "router" or "switch"; a link's state is "up", "down" or
"flapping", its mechanism "none", "netem", "tbf+nftables" or "userspace",
its impairment each way in netem's words ("delay 20ms loss 1%", "" for
none); addresses are prefixes (10.0.0.1/24) without link-local ones: an
interface's as its kernel has them, a link end's as the topology gives
them, automatic ones included; a process's name is set for the processes
the scenario started.`,
		ValidArgsFunction: labNames(false),
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON (see above) instead of text")
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		return cmdStatus(args, jsonOut, stdout, stderr)
	})
	return c
}

func execCommand(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "exec LAB NODE [--] CMD [ARG...]",
		Short: "run a command inside a node of a lab",
		Long: `exec runs a command inside a node of a lab that is up, in place of
nettest-run: its exit code is the command's (127 when it cannot be run).
Everything after NODE is the command's, flags included; a "--" before the
command is accepted and dropped.`,
		Example: `  nettest-run exec routed h1 ip -br addr
  nettest-run exec routed h1 -- ping -c1 r1`,
		Annotations:       map[string]string{flagsBeforeArgs: "yes"},
		ValidArgsFunction: labNames(true),
	}
	c.Flags().SetInterspersed(false)
	c.RunE = ran(func(c *cobra.Command, args []string) error {
		if len(args) == 2 && slices.Contains([]string{"-h", "-help", "--help"}, args[1]) {
			return c.Help() // exec LAB --help: no NODE "--help"
		}
		return cmdExec(args, stdout, stderr)
	})
	return c
}

func shellCommand(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:               "shell LAB NODE",
		Short:             "an interactive shell inside a node of a lab ($SHELL, else bash or sh)",
		ValidArgsFunction: labNames(true),
	}
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		return cmdShell(args, stdout, stderr)
	})
	return c
}

func downCommand(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "down LAB",
		Short: "tear a lab down: its processes, namespaces and files",
		Long: `down ends a lab's processes and removes its namespaces and files (its
supervisor does, and ends). A lab that is not up is already down: down says
so and exits 0; a lab whose supervisor was killed is gone: down removes what
it left, says so and exits 0. A name that
cannot name a lab exits 2, and so does one whose namespaces nettest did
not make (they are left alone).`,
		ValidArgsFunction: labNames(false),
	}
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		return cmdDown(args, stdout, stderr)
	})
	return c
}

func cleanCommand(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "clean",
		Short: "remove every lab, namespace, process and file nettest-run left, and nothing else",
		Long: `clean removes what nettest-run recorded making: every lab (and the half-made
remains of an up that was killed), the namespaces nettest's records prove
it persisted, and the scratch folders of runs that were killed. Anything
else, even named like nettest's, is left alone, and clean says why.`,
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		return cmdClean(args, stdout, stderr)
	})
	return c
}

func graphCommand(stdout, stderr io.Writer) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "graph [--format mermaid|dot] FILE|LAB",
		Short: "print a scenario's topology, or a lab's, as a Mermaid or DOT diagram",
		Long: `graph draws a scenario file's topology with its interfaces and addresses
as the file gives them; or, given the name of a lab that is up, the lab as
it runs: every interface with its addresses (automatic ones included), links
that are down dashed, impairments on their links.`,
		ValidArgsFunction: scenarioFiles,
	}
	set := setFlagOn(c.Flags())
	c.Flags().StringVar(&format, "format", "mermaid", "the diagram's `FORMAT`: mermaid or dot")
	maxSize := maxSizeFlag(c.Flags())
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		return cmdGraph(args, set, *maxSize, format, stdout, stderr)
	})
	if err := c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"mermaid", "dot"}, cobra.ShellCompDirectiveNoFileComp)); err != nil {
		panic(err)
	}
	return c
}

// runFlags are run's flags.
type runFlags struct {
	set       setFlag
	run       string
	junit     string
	json      bool
	keep      bool
	failFast  bool
	artifacts string
	shard     string
	maxSize   *int64
}
