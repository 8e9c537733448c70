package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/examples/scenarios"
	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/nettest"
)

// runConfig is what run and demo share.
type runConfig struct {
	run       *regexp.Regexp
	junit     string
	json      bool
	keep      bool
	failFast  bool
	artifacts string
}

func cmdRun(args []string, o *runFlags, stdout, stderr io.Writer) error {
	files, err := scenarioArgs("run", args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError("usage: run needs at least one FILE")
	}
	if o.shard != "" {
		k, n, err := parseShard(o.shard)
		if err != nil {
			return err
		}
		all := len(files)
		files = shard(files, k, n)
		line := fmt.Sprintf("shard %d/%d: %d of %s", k, n, len(files), plural(all, "file"))
		if o.json {
			fmt.Fprintln(stderr, line)
		} else {
			fmt.Fprintln(stdout, line)
		}
		if len(files) == 0 {
			return nil
		}
	}
	cfg := runConfig{junit: o.junit, json: o.json, keep: o.keep, failFast: o.failFast, artifacts: o.artifacts}
	if o.run != "" {
		if cfg.run, err = regexp.Compile(o.run); err != nil {
			return usageError("-run: %v", err)
		}
	}
	// Every file is checked before anything is built, as go test builds
	// every package before it runs one.
	var all []*scenario.Scenario
	var bad scenario.Errors
	for _, f := range files {
		s, err := scenario.ParseFileMax(f, o.set, *o.maxSize)
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
func cmdDemo(jsonOut bool, stdout, stderr io.Writer) error {
	data, err := scenarios.Files.ReadFile(scenarios.Demo)
	if err != nil {
		return err
	}
	s, err := scenario.Parse("examples/scenarios/"+scenarios.Demo, data, nil)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	if !jsonOut {
		fmt.Fprintf(stdout, "nettest-run demo: the seed tutorial (examples/scenarios/%s, built in)\n\n", scenarios.Demo)
	}
	return runAll([]*scenario.Scenario{s}, runConfig{json: jsonOut}, stdout, stderr)
}

// runAll runs scenarios one after another and reports them. SIGINT or
// SIGTERM stops the step under way at once; the scenario is torn down and
// reported as interrupted, the files after it are not run (the report
// names them), and the exit code is 128 + the signal's number (130, 143).
// A second signal kills the processes still stopping at once, and the
// teardown still completes.
func runAll(all []*scenario.Scenario, cfg runConfig, stdout, stderr io.Writer) error {
	if err := nettest.CheckPrivilege(); err != nil {
		return &exitError{2, err.Error()}
	}
	// What earlier runs killed with SIGKILL left in the temporary folder.
	scenario.ReapScratch()
	var rep reporter
	if cfg.json {
		rep = newJSONReporter(stdout)
	} else {
		rep = newTextReporter(stdout, stderr)
	}
	sig := watchSignals(stderr)
	defer sig.stop()
	ctx, hurry := sig.ctx, sig.hurry
	start := time.Now()
	var runs []*scenario.Run
	failed, invalid := false, false // invalid: the file was the cause (exit 2)
	for _, s := range all {
		if ctx.Err() != nil {
			break
		}
		sig.current.Store(&s.Name)
		if missing, programs := s.Missing(nettest.DetectFeatures); missing != "" {
			r := scenario.NewUnmetRun(s, missing, programs && os.Getenv(scenario.RequireToolsEnv) == "1")
			rep.begin(s)
			rep.StepDone(s, r.Results[0])
			rep.end(s, r, nil, "")
			runs = append(runs, r)
			failed = failed || r.Failed()
			continue
		}
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
		if r.Failed() && cfg.keep && r.Network != nil && r.Interrupted() == nil {
			keptMsg = keep(r)
		}
		sig.tearingDown.Store(true)
		r.CloseContext(hurry)
		sig.tearingDown.Store(false)
		rep.end(s, r, tails, keptMsg)
		runs = append(runs, r)
		failed = failed || r.Failed()
		invalid = invalid || r.InvalidInput()
	}
	notRun := all[len(runs):]
	stopped := sig.stopped()
	rep.summary(runs, notRun, stopped, time.Since(start))
	if cfg.junit != "" {
		if err := writeJUnit(cfg.junit, runs, notRun, stopped); err != nil {
			return err
		}
	}
	if stopped != nil {
		msg := ""
		if cfg.json { // the text report says it on stdout
			msg = notRunLine(stopped, notRun)
		}
		return &exitError{stopped.code(), msg}
	}
	if invalid {
		return &exitError{2, ""}
	}
	if failed {
		return &exitError{1, ""}
	}
	return nil
}

// interruption is why a run stopped early: the signal it got.
type interruption struct{ sig syscall.Signal }

func (e *interruption) Error() string { return "interrupted by " + signalName(e.sig) }

// code is the exit code: 128 + the signal's number, as a shell reports it.
func (e *interruption) code() int { return 128 + int(e.sig) }

func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return sig.String()
}

// notRunLine says why the run stopped and which files it did not run:
// "interrupted by SIGINT: not run: b.yaml, c.yaml".
func notRunLine(stopped *interruption, notRun []*scenario.Scenario) string {
	if len(notRun) == 0 {
		return stopped.Error()
	}
	files := make([]string, len(notRun))
	for i, s := range notRun {
		files[i] = s.File
	}
	return stopped.Error() + ": not run: " + strings.Join(files, ", ")
}

// signals is a run's handling of SIGINT and SIGTERM: the first ends ctx
// (with an *interruption as its cause), the second ends hurry.
type signals struct {
	ctx, hurry  context.Context
	current     atomic.Pointer[string] // the scenario running
	tearingDown atomic.Bool
	stop        func()

	mu    sync.Mutex
	first *interruption
}

// watchSignals starts handling SIGINT and SIGTERM until stop is called;
// it says on w what each signal does.
func watchSignals(w io.Writer) *signals {
	ctx, cancel := context.WithCancelCause(context.Background())
	hurry, hurryNow := context.WithCancel(context.Background())
	s := &signals{ctx: ctx, hurry: hurry}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case got := <-ch:
				sig := got.(syscall.Signal)
				name := "the run"
				if p := s.current.Load(); p != nil {
					name = *p
				}
				s.mu.Lock()
				first := s.first == nil
				if first {
					s.first = &interruption{sig}
				}
				s.mu.Unlock()
				if first {
					cancel(s.first)
					what := "stopping " + name + " and tearing it down"
					if s.tearingDown.Load() {
						what = "finishing the teardown of " + name
					}
					fmt.Fprintf(w, "\nnettest-run: %s: %s; no further file runs (%s again kills its processes at once)\n", signalName(sig), what, signalName(sig))
					continue
				}
				hurryNow()
				fmt.Fprintf(w, "\nnettest-run: %s again: killing the processes of %s at once; the teardown still completes, so that nothing is left\n", signalName(sig), name)
			}
		}
	})
	var once sync.Once
	s.stop = func() { // idempotent: up stops listening once its lab is up, and again on return
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			wg.Wait()
			cancel(nil)
			hurryNow()
		})
	}
	return s
}

// stopped returns the interruption, or nil when no signal came.
func (s *signals) stopped() *interruption {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first
}

// keep persists a failed run's namespaces, records its state and returns
// how to reach them.
func keep(r *scenario.Run) string {
	names, err := r.Network.Persist()
	if err != nil {
		return fmt.Sprintf("--keep-on-failure: could not keep %s up: %v", r.S.Name, err)
	}
	st := &lab.State{Name: r.S.Name, File: r.S.File, By: "run --keep-on-failure", Created: time.Now(), Owner: owner.Self(), Complete: true, Topology: r.S.Topology, Namespaces: names}
	if err := st.Claim(); err != nil {
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
