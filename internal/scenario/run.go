package scenario

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/nettest"
)

// Status is a step's outcome.
type Status string

// Outcomes.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
	// Interrupted is a step (or the setup) that the run's context stopped
	// before it could pass: neither a pass nor a failure of what it checks.
	Interrupted Status = "interrupted"
)

// StepResult is what one step did.
type StepResult struct {
	Step    *StepPlan // nil for the setup and teardown pseudo-steps
	Name    string    // the full test name: "seed/03 ping red -> blue"
	Status  Status
	Elapsed time.Duration
	Output  []string // lines the step printed (an exec step's output)
	Failure string   // why it failed (or was interrupted): one or more lines
}

// Observer follows a run as it goes; every method may be nil-safe no-ops.
type Observer interface {
	// Building is called before the topology is built.
	Building(s *Scenario)
	// Built is called when the topology is built and its processes are
	// ready (err nil), or when that failed.
	Built(s *Scenario, elapsed time.Duration, err error)
	// StepStart is called before each step that runs.
	StepStart(s *Scenario, name string)
	// StepDone is called after each step that ran, and for the setup and
	// teardown when they failed.
	StepDone(s *Scenario, r *StepResult)
}

// Options configure a Run.
type Options struct {
	// Run selects the checks whose full name ("seed/03 ping red -> blue")
	// it matches; steps that change the topology always run. nil: all.
	Run *regexp.Regexp
	// FailFast stops at the first failed step; the rest are skipped.
	FailFast bool
	// Detach starts processes so that they outlive this process (for
	// nettest-run up); their output goes to output.log in their folder.
	Detach bool
	// Adopt, with Detach, is called for each process once its shim runs
	// and before the command starts (see nettest.Cmd.Adopt): nettest-run up
	// records it there, so that no process can outlive an interrupted up
	// unrecorded. An error stops the process from starting.
	Adopt func(Started) error
	// FilesDir holds each process instance's folder (${FILES}). Empty: a
	// temporary folder that Close removes.
	FilesDir string
	// Artifacts is a folder: the run's captures are written to
	// Artifacts/<scenario name>/<capture name>.pcapng and kept, whatever
	// the outcome. Empty: a temporary folder, kept only when the run fails
	// (KeptCaptures says where).
	Artifacts string
	// Observer, if not nil, follows the run.
	Observer Observer
}

// ProgressObserver is an Observer that also follows the build, stage by
// stage (see nettest.WithProgress).
type ProgressObserver interface {
	BuildProgress(s *Scenario, p nettest.Progress)
}

// Run is a scenario being run: its network and processes.
type Run struct {
	S       *Scenario
	opts    Options
	Network *nettest.Network
	procs   map[string]*proc // by instance name
	daemons []*nettest.Daemon
	filesIn string
	tmpDir  bool
	Results []*StepResult
	start   time.Time
	stopped error // why the context ended the run early; nil: it did not
	invalid bool  // Setup failed because of the file
	unmet   bool  // not started: the scenario lacks what it requires

	parts    []partition // partitions in place
	captures map[string]*runCapture
	capOrder []*runCapture
	capDir   string
	capTmp   bool
	kept     []KeptCapture
}

// Selected reports whether the options select a step to run.
func (o Options) Selected(s *Scenario, st *StepPlan) bool {
	return o.Run == nil || st.Action || o.Run.MatchString(s.FullName(st))
}

// Failed reports whether a step, the setup or the teardown failed.
func (r *Run) Failed() bool {
	for _, res := range r.Results {
		if res.Status == Fail {
			return true
		}
	}
	return false
}

// Interrupted returns why the run's context stopped it before its end
// (context.Cause: "interrupted by SIGINT"), or nil when the setup and every
// selected step ran. An interruption is not a failure: Failed does not
// count it, and the step it stopped has the status Interrupted.
func (r *Run) Interrupted() error { return r.stopped }

// interrupt records that ctx stopped the run, if it has ended.
func (r *Run) interrupt(ctx context.Context) bool {
	if ctx.Err() == nil {
		return false
	}
	if r.stopped == nil {
		r.stopped = context.Cause(ctx)
	}
	return true
}

// interruptedMsg says why ctx stopped a step, and what the step last saw
// when it says (an eventually check's last complete try).
func (r *Run) interruptedMsg(failure string, elapsed time.Duration) string {
	msg := fmt.Sprintf("%v after %s", r.stopped, elapsed.Round(time.Millisecond))
	if _, last, ok := strings.Cut(failure, "; the last complete try saw: "); ok {
		msg += "\nits last complete try saw: " + last
	}
	return msg
}

// InvalidInput reports whether Setup failed because of the file: Build
// refused a sysctl or lacked a feature a link needs that CheckKernel did
// not see (its error is then at the key's file:line:col).
func (r *Run) InvalidInput() bool { return r.invalid }

// Elapsed returns the time since Setup began.
func (r *Run) Elapsed() time.Duration { return time.Since(r.start) }

// Execute runs a scenario from start to end: Setup, Steps, Close.
func Execute(ctx context.Context, s *Scenario, opts Options) *Run {
	r := NewRun(s, opts)
	if r.Setup(ctx) == nil {
		r.Steps(ctx)
	}
	r.Close()
	return r
}

// ScratchPrefix begins the name of the temporary folders in os.TempDir()
// that a run makes for its processes' files; each carries its owner (see
// internal/owner), so that ReapScratch removes those of a run that was
// killed.
const ScratchPrefix = "nettest-run-"

// ReapScratch removes the temporary folders of runs whose process no longer
// runs (killed with SIGKILL, say), and returns them; those it leaves, and
// why, are in skipped.
func ReapScratch() (removed []string, skipped []owner.Skipped, err error) {
	return owner.Reap("", ScratchPrefix)
}

// NewRun prepares a run.
func NewRun(s *Scenario, opts Options) *Run {
	return &Run{S: s, opts: opts, procs: map[string]*proc{}, captures: map[string]*runCapture{}, start: time.Now()}
}

func (r *Run) observe(f func(Observer)) {
	if r.opts.Observer != nil {
		f(r.opts.Observer)
	}
}

// Setup builds the topology and starts its processes. A failure is
// recorded as the "setup" pseudo-step and returned.
func (r *Run) Setup(ctx context.Context) error {
	r.start = time.Now()
	r.observe(func(o Observer) { o.Building(r.S) })
	err := r.setup(ctx)
	elapsed := time.Since(r.start)
	r.observe(func(o Observer) { o.Built(r.S, elapsed, err) })
	if err != nil {
		res := &StepResult{Name: r.S.Name + "/setup", Status: Fail, Elapsed: elapsed, Failure: err.Error()}
		if r.interrupt(ctx) {
			res.Status, res.Failure = Interrupted, r.interruptedMsg("", elapsed)+"\nthe setup stopped at: "+err.Error()
		}
		r.Results = append(r.Results, res)
		r.observe(func(o Observer) { o.StepDone(r.S, res) })
	}
	return err
}

func (r *Run) setup(ctx context.Context) (err error) {
	r.filesIn = r.opts.FilesDir
	if r.filesIn == "" {
		if r.filesIn, err = owner.MkdirTemp("", ScratchPrefix+r.S.Name+"-"); err != nil {
			return err
		}
		r.tmpDir = true
	}
	if o, ok := r.opts.Observer.(ProgressObserver); ok {
		ctx = nettest.WithProgress(ctx, func(p nettest.Progress) { o.BuildProgress(r.S, p) })
	}
	if r.Network, err = nettest.Build(ctx, r.S.Topology); err != nil {
		if ie := r.S.inputError(err); ie != nil {
			r.invalid = true
			return ie
		}
		return err
	}
	if err := r.applySetup(); err != nil {
		return err
	}
	if err := r.startDaemons(ctx); err != nil {
		return err
	}
	for _, in := range r.S.Processes {
		if in.Spec.Start != nil && !*in.Spec.Start {
			continue
		}
		if err := r.startProc(ctx, in); err != nil {
			return err
		}
	}
	return nil
}

// Steps runs the steps in order and records their results. When ctx ends,
// the step under way stops at once and is recorded as Interrupted (unless
// it passed), and no further step runs; Interrupted says why.
func (r *Run) Steps(ctx context.Context) {
	stop := false
	for _, st := range r.S.Steps {
		if !r.opts.Selected(r.S, st) {
			continue
		}
		if r.interrupt(ctx) {
			return
		}
		name := r.S.FullName(st)
		if stop {
			r.Results = append(r.Results, &StepResult{Step: st, Name: name, Status: Skip, Failure: "skipped: an earlier step failed (-failfast)"})
			continue
		}
		r.observe(func(o Observer) { o.StepStart(r.S, name) })
		t0 := time.Now()
		res := &StepResult{Step: st, Name: name, Status: Pass}
		out, failure := r.step(ctx, st)
		res.Elapsed, res.Output = time.Since(t0), out
		switch {
		case failure != "" && r.interrupt(ctx):
			res.Status, res.Failure = Interrupted, r.interruptedMsg(failure, res.Elapsed)
		case failure != "":
			res.Status, res.Failure = Fail, failure
			stop = r.opts.FailFast
		}
		r.Results = append(r.Results, res)
		r.observe(func(o Observer) { o.StepDone(r.S, res) })
	}
}

// Close stops the processes that are not detached, closes the network
// (namespaces persisted by the caller stay) and removes the temporary
// folder. A process that had failed by then fails the "teardown".
func (r *Run) Close() { r.CloseContext(context.Background()) }

// CloseContext is Close, in a hurry once ctx ends: the processes still in
// their grace after SIGTERM are killed at once (SIGKILL), and that is no
// failure. Everything else is torn down all the same; it returns when
// nothing of the run is left.
func (r *Run) CloseContext(ctx context.Context) {
	t0 := time.Now()
	failures := r.stopCaptures()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, in := range r.S.Processes {
		p := r.procs[in.Name]
		if p == nil || p.stopped || r.opts.Detach {
			continue
		}
		wg.Go(func() {
			if err := p.stop(ctx); err != nil && ctx.Err() == nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("process %s: %v%s", in.Name, err, p.tail()))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if !r.opts.Detach {
		failures = append(failures, r.stopDaemons()...)
	}
	if r.Network != nil {
		if err := r.Network.Close(); err != nil {
			failures = append(failures, err.Error())
		}
	}
	if r.tmpDir {
		os.RemoveAll(r.filesIn)
	}
	if len(failures) > 0 {
		res := &StepResult{Name: r.S.Name + "/teardown", Status: Fail, Elapsed: time.Since(t0), Failure: strings.Join(failures, "\n")}
		r.Results = append(r.Results, res)
		r.observe(func(o Observer) { o.StepDone(r.S, res) })
	}
	r.keepCaptures()
}

// Detached returns the processes started, with their PIDs (the shims').
func (r *Run) Detached() []Started {
	var out []Started
	for _, in := range r.S.Processes {
		if p := r.procs[in.Name]; p != nil && !p.cmd.Exited() {
			out = append(out, Started{Name: in.Name, Node: in.Node, PID: p.cmd.Pid(), Command: p.cmd.String(), Dir: p.dir})
		}
	}
	return out
}

// Started is a process left running by a detached run.
type Started struct {
	Name    string `json:"name"`
	Node    string `json:"node"`
	PID     int    `json:"pid"`
	Command string `json:"command"`
	Dir     string `json:"dir"` // its folder: files, output.log
}

// ProcessTails returns the last lines of every process's output, for a
// failure report: "process bird@r1:" and its lines, indented.
func (r *Run) ProcessTails() []string {
	var out []string
	for _, in := range r.S.Processes {
		if p := r.procs[in.Name]; p != nil {
			if t := p.tail(); t != "" {
				out = append(out, "process "+in.Name+" output:"+t)
			}
		}
	}
	return out
}

// FilesDir returns the folder holding the processes' folders.
func (r *Run) FilesDir() string { return r.filesIn }
