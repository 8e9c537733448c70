package scenario

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// The topology's daemons: routing daemons (FRR, BIRD) and any other, per
// node, started after the firewall and NAT and before the processes.

// DaemonTable is the daemons of each node: node: [entries].
type DaemonTable struct{ PerNode[DaemonEntry] }

// DaemonEntry is one daemon of a node: exactly one kind.
type DaemonEntry struct {
	At     `json:"-"`
	FRR    *FRRDaemon     `json:"frr,omitempty" doc:"FRRouting, with its default paths in the node's own /etc, /run and /var/tmp: frr.conf written to /etc/frr, zebra started first, then staticd and the daemons listed, then vtysh -b; ready when vtysh answers. exec steps reach it with vtysh -c."`
	BIRD   *BIRDDaemon    `json:"bird,omitempty" doc:"BIRD 2, with its default paths in the node's own /etc and /run: bird.conf written to /etc/bird, bird -f; ready when birdc answers. exec steps reach it with birdc."`
	Daemon *GenericDaemon `json:"daemon,omitempty" doc:"Any other daemon: its files, its command, how to tell it is ready."`
}

// daemonKinds are the kinds of daemon, by key, each with what turns its
// entry into the engine's spec (the entry checked already).
var daemonKinds = []struct {
	key  string
	spec func(e DaemonEntry) nettest.DaemonSpec
}{
	{"frr", func(e DaemonEntry) nettest.DaemonSpec {
		s := nettest.FRR(e.FRR.Config.V, texts(e.FRR.Daemons)...)
		s.Vars = e.FRR.Vars
		return s
	}},
	{"bird", func(e DaemonEntry) nettest.DaemonSpec {
		s := nettest.BIRD(e.BIRD.Config.V)
		s.Vars = e.BIRD.Vars
		return s
	}},
	{"daemon", func(e DaemonEntry) nettest.DaemonSpec { return e.Daemon.spec() }},
}

// configDoc describes a daemon's config key.
const configDoc = "The daemon's configuration: a Go text/template given the node's facts — {{.Name}}, {{.RouterID}} (its lowest IPv4 address), {{range .Interfaces}} (.Name, .IPv4, .IPv6: prefixes; .Masked is the subnet), {{range .Neighbors}} (.Node, .Interface, .Local, .IPv4, .IPv6, .RouterID), {{.Vars.KEY}}. Text without {{ is written as it is."

// FRRDaemon is FRRouting in a node.
type FRRDaemon struct {
	At      `json:"-"`
	Daemons StringList        `json:"daemons,omitempty" doc:"FRR's daemons to run besides zebra and staticd, in order: ospfd, ospf6d, bgpd, isisd, ripd ..."`
	Config  Text              `json:"config,required" doc:"frr.conf, FRR's integrated configuration. The daemon's configuration: a Go text/template given the node's facts (see the daemons key)."`
	Vars    map[string]string `json:"vars,omitempty" doc:"Values for the template: {{.Vars.KEY}} (an AS number, say)."`
}

// BIRDDaemon is BIRD 2 in a node.
type BIRDDaemon struct {
	At     `json:"-"`
	Config Text              `json:"config,required" doc:"bird.conf. A Go text/template given the node's facts (see the daemons key)."`
	Vars   map[string]string `json:"vars,omitempty" doc:"Values for the template: {{.Vars.KEY}}."`
}

// GenericDaemon is a daemon of the user's own.
type GenericDaemon struct {
	At      `json:"-"`
	Name    Text              `json:"name,required" doc:"Names the daemon in errors and logs."`
	Command *Command          `json:"command,required" doc:"The program, run in the foreground: a list (argv) or a string (words, or sh -c with shell syntax)."`
	Files   map[string]string `json:"files,omitempty" doc:"Files of the node's own written first, path: content (paths under /etc, /run, /tmp, /var/tmp or /var/log); each content a Go text/template given the node's facts (see the daemons key)."`
	Dirs    StringList        `json:"dirs,omitempty" doc:"Directories of the node's own made first (/run/mydaemon)."`
	Ready   *Command          `json:"ready,omitempty" doc:"A command run in the node again and again until it exits 0: then the daemon is ready. Default: as soon as it runs."`
	CLI     *Command          `json:"cli,omitempty" doc:"Its command-line interface, for the record (exec steps run it)."`
	Vars    map[string]string `json:"vars,omitempty" doc:"Values for the templates: {{.Vars.KEY}}."`
}

func (g *GenericDaemon) spec() nettest.DaemonSpec {
	s := nettest.DaemonSpec{Kind: g.Name.V, Vars: g.Vars, Procs: []nettest.DaemonProc{{Name: g.Name.V, Args: g.Command.Args}}}
	for _, d := range g.Dirs {
		s.Dirs = append(s.Dirs, nettest.DaemonDir{Path: d.V})
	}
	for _, p := range slices.Sorted(maps.Keys(g.Files)) {
		s.Files = append(s.Files, nettest.DaemonFile{Path: p, Text: g.Files[p]})
	}
	if g.Ready != nil {
		s.Ready = g.Ready.Args
	}
	if g.CLI != nil {
		s.CLI = g.CLI.Args
	}
	return s
}

func (DaemonEntry) jsonSchema(g *schemaGen) map[string]any { return alternatives[DaemonEntry](g) }

// daemonPlan is a daemon to start: in which node, as what.
type daemonPlan struct {
	node string
	spec nettest.DaemonSpec
	pos  Pos
}

// daemons checks the topology's daemons and plans them, in file order.
func (s *Scenario) daemons(l *errList) {
	for _, nd := range s.Spec.Topology.Daemons.PerNode {
		if !s.checkNode(l, nd.Node, false) {
			continue
		}
		for _, e := range nd.Entries {
			key, ok := one(l, e.At, setKeys(reflect.ValueOf(e)), "daemon")
			if !ok {
				continue
			}
			switch {
			case e.FRR != nil:
				checkTemplate(l, e.FRR.Config, "frr config")
				for _, d := range e.FRR.Daemons {
					if d.V == "" || strings.ContainsAny(d.V, "/ ") {
						l.add(d.Pos, "frr daemons: %q is not the name of an FRR daemon (ospfd, bgpd ...)", d.V)
					}
				}
			case e.BIRD != nil:
				checkTemplate(l, e.BIRD.Config, "bird config")
			case e.Daemon != nil:
				if e.Daemon.Command == nil {
					continue // the decoder said so
				}
				if len(e.Daemon.Command.Args) == 0 {
					l.add(e.Daemon.At.Pos, "daemon %s: an empty command", e.Daemon.Name.V)
					continue
				}
				for p, text := range e.Daemon.Files {
					checkTemplate(l, Text{V: text, Pos: e.Daemon.At.Pos}, "daemon "+e.Daemon.Name.V+": file "+p)
				}
			}
			for _, k := range daemonKinds {
				if k.key == key {
					s.daemonPlans = append(s.daemonPlans, daemonPlan{node: nd.Node.V, spec: k.spec(e), pos: e.At.Pos})
				}
			}
		}
	}
}

// checkTemplate reports a template that does not parse.
func checkTemplate(l *errList, t Text, what string) {
	if _, err := template.New(what).Parse(t.V); err != nil {
		l.add(t.Pos, "%s: %v", what, err)
	}
}

// daemonReady bounds how long a daemon may take to be ready.
const daemonReady = 60 * time.Second

// startDaemons starts the topology's daemons, in file order.
func (r *Run) startDaemons(ctx context.Context) error {
	if r.opts.Detach && len(r.S.daemonPlans) > 0 {
		p := r.S.daemonPlans[0]
		return fmt.Errorf("%s:%d:%d: daemons: a lab left up does not keep its daemons yet; run the scenario with nettest-run run, or start the daemon as a process", r.S.File, p.pos.Line, p.pos.Col)
	}
	for _, p := range r.S.daemonPlans {
		node, err := r.Network.Node(p.node)
		if err != nil {
			return err
		}
		dctx, cancel := context.WithTimeout(ctx, daemonReady)
		d, err := node.StartDaemon(dctx, p.spec)
		cancel()
		if err != nil {
			return fmt.Errorf("%s:%d:%d: %w", r.S.File, p.pos.Line, p.pos.Col, err)
		}
		r.daemons = append(r.daemons, d)
	}
	return nil
}

// stopDaemons stops the daemons, the last started first, and says which
// had failed by then, with the end of its output.
func (r *Run) stopDaemons() []string {
	var failures []string
	for i := len(r.daemons) - 1; i >= 0; i-- {
		d := r.daemons[i]
		if err := d.Stop(); err != nil {
			failures = append(failures, fmt.Sprintf("daemon %s: %v%s", d, err, tailOf(d.Log())))
		}
	}
	r.daemons = nil
	return failures
}

// tailOf returns the last lines of a log, for a failure.
func tailOf(log string) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return ""
	}
	return "; its last output:\n  " + strings.Join(lines, "\n  ")
}

// texts returns the strings of a list.
func texts(l StringList) []string {
	out := make([]string, len(l))
	for i, t := range l {
		out[i] = t.V
	}
	return out
}
