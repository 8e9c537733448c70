package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/nettestlab/nettest/examples/scenarios"
	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/nettest"
)

// artifactsEnv names the folder that keeps every capture, as it keeps
// every Go test's (fixtures.ArtifactsEnv; this command does not import
// fixtures, which brings the testing package).
const artifactsEnv = "NETTEST_ARTIFACTS"

// runConfig is what run and demo share.
type runConfig struct {
	run       *regexp.Regexp
	junit     string
	json      bool
	keep      bool
	failFast  bool
	artifacts string
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	set := setFlag{}
	fs.Var(set, "set", "NAME=VALUE")
	runRE := fs.String("run", "", "regular expression")
	junit := fs.String("junit", "", "file")
	jsonOut := fs.Bool("json", false, "test2json events")
	keep := fs.Bool("keep-on-failure", false, "keep a failed topology up")
	failFast := fs.Bool("failfast", false, "stop at the first failure")
	artifacts := fs.String("artifacts", os.Getenv(artifactsEnv), "folder for captures")
	maxSize := maxSizeFlag(fs)
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError("usage: run needs at least one FILE")
	}
	cfg := runConfig{junit: *junit, json: *jsonOut, keep: *keep, failFast: *failFast, artifacts: *artifacts}
	if *runRE != "" {
		if cfg.run, err = regexp.Compile(*runRE); err != nil {
			return usageError("-run: %v", err)
		}
	}
	// Every file is checked before anything is built, as go test builds
	// every package before it runs one.
	var all []*scenario.Scenario
	var bad scenario.Errors
	for _, f := range files {
		s, err := scenario.ParseFileMax(f, set, *maxSize)
		var es scenario.Errors
		switch {
		case errors.As(err, &es):
			bad = append(bad, es...)
		case err != nil:
			return &exitError{2, err.Error()}
		default:
			if es := kernelProblems(s); es != nil {
				bad = append(bad, es...)
				continue
			}
			all = append(all, s)
		}
	}
	if len(bad) > 0 {
		fmt.Fprintln(stderr, bad.Error())
		return &exitError{2, ""}
	}
	return runAll(all, cfg, stdout, stderr)
}

// cmdDemo runs the built-in example scenario.
func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	jsonOut := fs.Bool("json", false, "test2json events")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("usage: demo takes no files (use run FILE)")
	}
	data, err := scenarios.Files.ReadFile(scenarios.Demo)
	if err != nil {
		return err
	}
	s, err := scenario.Parse("examples/scenarios/"+scenarios.Demo, data, nil)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	if !*jsonOut {
		fmt.Fprintf(stdout, "nettest-run demo: the seed tutorial (examples/scenarios/%s, built in)\n\n", scenarios.Demo)
	}
	return runAll([]*scenario.Scenario{s}, runConfig{json: *jsonOut}, stdout, stderr)
}

// runAll runs scenarios one after another and reports them.
func runAll(all []*scenario.Scenario, cfg runConfig, stdout, stderr io.Writer) error {
	if err := nettest.CheckPrivilege(); err != nil {
		return &exitError{2, err.Error()}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rep reporter
	if cfg.json {
		rep = newJSONReporter(stdout)
	} else {
		rep = newTextReporter(stdout, stderr)
	}
	start := time.Now()
	var runs []*scenario.Run
	failed, invalid := false, false // invalid: the file was the cause (exit 2)
	for _, s := range all {
		opts := scenario.Options{Run: cfg.run, FailFast: cfg.failFast, Artifacts: cfg.artifacts, Observer: rep}
		rep.begin(s)
		r := scenario.NewRun(s, opts)
		if r.Setup(ctx) == nil {
			r.Steps(ctx)
		}
		var tails []string
		if r.Failed() {
			tails = r.ProcessTails()
		}
		var keptMsg string
		if r.Failed() && cfg.keep && r.Network != nil {
			keptMsg = keep(r)
		}
		r.Close()
		rep.end(s, r, tails, keptMsg)
		runs = append(runs, r)
		failed = failed || r.Failed()
		invalid = invalid || r.InvalidInput()
		if ctx.Err() != nil {
			break
		}
	}
	rep.summary(runs, time.Since(start))
	if cfg.junit != "" {
		if err := writeJUnit(cfg.junit, runs); err != nil {
			return err
		}
	}
	if invalid {
		return &exitError{2, ""}
	}
	if failed || ctx.Err() != nil {
		return &exitError{1, ""}
	}
	return nil
}

// keep persists a failed run's namespaces, records its state and returns
// how to reach them.
func keep(r *scenario.Run) string {
	names, err := r.Network.Persist()
	if err != nil {
		return fmt.Sprintf("--keep-on-failure: could not keep %s up: %v", r.S.Name, err)
	}
	st := &State{Name: r.S.Name, File: r.S.File, By: "run --keep-on-failure", Created: time.Now(), Topology: r.S.Topology, Namespaces: names}
	if err := st.write(); err != nil {
		return fmt.Sprintf("--keep-on-failure: kept the namespaces of %s but could not record it: %v (nettest-run clean removes them)", r.S.Name, err)
	}
	msg := fmt.Sprintf("kept %s up to explore (its processes ended with this run):\n", r.S.Name)
	if links := userspaceLinks(r.Network); len(links) > 0 {
		msg = fmt.Sprintf("kept %s up to explore (its processes ended with this run, and so did the forwarders of its userspace-impaired links %s: they carry nothing):\n", r.S.Name, strings.Join(links, ", "))
	}
	msg += enterHelp(r.S.Name, r.Network)
	msg += fmt.Sprintf("  nettest-run status; nettest-run down %s when done\n", r.S.Name)
	return msg
}

// enterHelp says how to enter each node.
func enterHelp(name string, n *nettest.Network) string {
	var s string
	for _, node := range n.Nodes() {
		s += fmt.Sprintf("  %-10s ip netns exec %-24s bash    or  nettest-run shell %s %s\n",
			node.Name(), nettest.PersistedName(name, node.Name()), name, node.Name())
	}
	return s
}
