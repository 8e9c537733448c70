package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/nettest"
)

// reporter prints a run as it goes.
type reporter interface {
	scenario.Observer
	begin(s *scenario.Scenario)
	end(s *scenario.Scenario, r *scenario.Run, processTails []string, kept string)
	// summary ends the report; stopped is non-nil when a signal stopped
	// the run, and notRun are then the scenarios it did not start.
	summary(runs []*scenario.Run, notRun []*scenario.Scenario, stopped *interruption, elapsed time.Duration)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// dur formats a duration as go test would, with more precision when short.
func dur(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func counts(s *scenario.Scenario) string {
	t := s.Topology
	parts := []string{plural(len(t.Nodes), "node")}
	if len(t.Links) > 0 {
		parts = append(parts, plural(len(t.Links), "link"))
	}
	if len(t.LANs) > 0 {
		parts = append(parts, plural(len(t.LANs), "LAN"))
	}
	if len(s.Processes) > 0 {
		parts = append(parts, plural(len(s.Processes), "process"))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "s") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// tally counts results.
func tally(runs []*scenario.Run) (pass, fail, skip, intr int) {
	for _, r := range runs {
		for _, res := range r.Results {
			switch res.Status {
			case scenario.Pass:
				pass++
			case scenario.Fail:
				fail++
			case scenario.Skip:
				skip++
			case scenario.Interrupted:
				intr++
			}
		}
	}
	return
}

// interrupted says how many results were interrupted: "", or ", 1 interrupted".
func interrupted(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d interrupted", n)
}

// textReporter prints go test's verbose shape: a line per step with its
// outcome and duration, the step's output indented below it, a summary.
// Colour and the build progress line only on a terminal.
type textReporter struct {
	out, progressOut io.Writer
	color            bool
	progress         bool

	mu       sync.Mutex
	stopTick chan struct{}
	tickDone chan struct{}
	stage    atomic.Pointer[nettest.Progress] // the build's latest progress
}

// BuildProgress records how far the build is, for the progress line.
func (t *textReporter) BuildProgress(s *scenario.Scenario, p nettest.Progress) {
	t.stage.Store(&p)
}

func newTextReporter(stdout, stderr io.Writer) *textReporter {
	return &textReporter{
		out: stdout, progressOut: stderr,
		color:    isTerminal(stdout) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb",
		progress: isTerminal(stderr),
	}
}

func (t *textReporter) paint(code, s string) string {
	if !t.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (t *textReporter) begin(s *scenario.Scenario) {
	fmt.Fprintf(t.out, "=== %s (%s): %s\n", s.Name, s.File, counts(s))
}

// Building shows, on a terminal, how long the build has taken so far, once
// it takes longer than a blink.
func (t *textReporter) Building(s *scenario.Scenario) {
	if !t.progress {
		return
	}
	t.stopTick, t.tickDone = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		start := time.Now()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		shown := false
		for {
			select {
			case <-stop:
				if shown {
					fmt.Fprint(t.progressOut, "\r\x1b[K")
				}
				return
			case <-tick.C:
				if e := time.Since(start); e > 300*time.Millisecond {
					what := "starting processes"
					if p := t.stage.Load(); p != nil && !(p.Stage == "ready" && p.Done == p.Total) {
						what = fmt.Sprintf("%s %d/%d", p.Stage, p.Done, p.Total)
					}
					fmt.Fprintf(t.progressOut, "\r\x1b[Kbuilding %s: %s, %s ... %.1fs", s.Name, counts(s), what, e.Seconds())
					shown = true
				}
			}
		}
	}(t.stopTick, t.tickDone)
}

func (t *textReporter) Built(s *scenario.Scenario, elapsed time.Duration, err error) {
	if t.stopTick != nil {
		close(t.stopTick)
		<-t.tickDone
		t.stopTick = nil
	}
	if err == nil {
		fmt.Fprintf(t.out, "    built in %s\n", dur(elapsed))
	}
}

func (t *textReporter) StepStart(*scenario.Scenario, string) {}

func (t *textReporter) StepDone(s *scenario.Scenario, r *scenario.StepResult) {
	word := map[scenario.Status]string{scenario.Pass: t.paint("32", "PASS"), scenario.Fail: t.paint("31", "FAIL"), scenario.Skip: t.paint("33", "SKIP"),
		scenario.Interrupted: t.paint("35", "INTERRUPTED")}[r.Status]
	fmt.Fprintf(t.out, "--- %s: %s (%s)\n", word, r.Name, dur(r.Elapsed))
	for _, line := range r.Output {
		fmt.Fprintf(t.out, "        %s\n", line)
	}
	for _, line := range strings.Split(r.Failure, "\n") {
		if line != "" {
			fmt.Fprintf(t.out, "    %s\n", line)
		}
	}
}

func (t *textReporter) end(s *scenario.Scenario, r *scenario.Run, tails []string, kept string) {
	for _, tail := range tails {
		fmt.Fprintf(t.out, "    %s\n", strings.ReplaceAll(tail, "\n", "\n    "))
	}
	for _, c := range r.KeptCaptures() {
		fmt.Fprintf(t.out, "    %s\n", c)
	}
	if kept != "" {
		fmt.Fprint(t.out, kept)
	}
	pass, fail, skip, intr := tally([]*scenario.Run{r})
	word := t.paint("32", "ok  ")
	switch {
	case fail > 0:
		word = t.paint("31", "FAIL")
	case r.Interrupted() != nil:
		word = t.paint("35", "INTERRUPTED")
	case r.Unmet():
		word = t.paint("33", "skip")
	}
	how := ""
	if stop := r.Interrupted(); stop != nil {
		how = "; " + stop.Error() + ", torn down"
	}
	fmt.Fprintf(t.out, "%s %s: %d passed, %d failed%s%s (%s%s)\n\n", word, s.Name, pass, fail, skipped(skip), interrupted(intr), dur(r.Elapsed()), how)
}

func skipped(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d skipped", n)
}

func (t *textReporter) summary(runs []*scenario.Run, notRun []*scenario.Scenario, stopped *interruption, elapsed time.Duration) {
	pass, fail, skip, intr := tally(runs)
	word := "PASS"
	switch {
	case fail > 0:
		word = "FAIL"
	case stopped != nil:
		word = "INTERRUPTED"
	}
	// The last line has the shape CI tools read: "WORD: N passed, N failed".
	if len(notRun) > 0 {
		fmt.Fprintf(t.out, "%d of %s in %s\n", len(runs), plural(len(runs)+len(notRun), "scenario"), dur(elapsed))
	} else {
		fmt.Fprintf(t.out, "%s in %s\n", plural(len(runs), "scenario"), dur(elapsed))
	}
	if stopped != nil {
		fmt.Fprintln(t.out, notRunLine(stopped, notRun))
	}
	fmt.Fprintf(t.out, "%s: %d passed, %d failed, %d skipped%s\n", word, pass, fail, skip, interrupted(intr))
}

// jsonReporter prints events in test2json's format (go doc test2json), so
// that gotestsum and other go test tools read them: a scenario is a package
// (named by its file) with one test, the scenario, whose subtests are the
// steps.
type jsonReporter struct {
	enc  *json.Encoder
	mu   sync.Mutex
	pkgs map[string]time.Time
}

// testEvent is test2json's event.
type testEvent struct {
	Time    time.Time `json:",omitempty"`
	Action  string
	Package string   `json:",omitempty"`
	Test    string   `json:",omitempty"`
	Elapsed *float64 `json:",omitempty"`
	Output  string   `json:",omitempty"`
}

func newJSONReporter(w io.Writer) *jsonReporter {
	return &jsonReporter{enc: json.NewEncoder(w), pkgs: map[string]time.Time{}}
}

func (j *jsonReporter) emit(e testEvent) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e.Time = time.Now()
	j.enc.Encode(e)
}

func seconds(d time.Duration) *float64 {
	s := float64(d.Round(time.Millisecond)) / 1e9
	return &s
}

func (j *jsonReporter) begin(s *scenario.Scenario) {
	j.emit(testEvent{Action: "start", Package: s.File})
	j.emit(testEvent{Action: "run", Package: s.File, Test: s.Name})
	j.emit(testEvent{Action: "output", Package: s.File, Test: s.Name, Output: "=== RUN   " + s.Name + "\n"})
}

func (j *jsonReporter) Building(*scenario.Scenario) {}

func (j *jsonReporter) Built(s *scenario.Scenario, elapsed time.Duration, err error) {
	if err == nil {
		j.emit(testEvent{Action: "output", Package: s.File, Test: s.Name, Output: fmt.Sprintf("    built %s in %s\n", counts(s), dur(elapsed))})
	}
}

func (j *jsonReporter) StepStart(s *scenario.Scenario, name string) {
	j.emit(testEvent{Action: "run", Package: s.File, Test: name})
	j.emit(testEvent{Action: "output", Package: s.File, Test: name, Output: "=== RUN   " + name + "\n"})
}

func (j *jsonReporter) StepDone(s *scenario.Scenario, r *scenario.StepResult) {
	if r.Step == nil { // setup or teardown: a subtest of its own
		j.emit(testEvent{Action: "run", Package: s.File, Test: r.Name})
	}
	out := func(line string) {
		j.emit(testEvent{Action: "output", Package: s.File, Test: r.Name, Output: line + "\n"})
	}
	for _, line := range r.Output {
		out("        " + line)
	}
	for _, line := range strings.Split(r.Failure, "\n") {
		if line != "" {
			out("    " + line)
		}
	}
	// test2json has no word for an interrupted step: it is a skip whose
	// output says it was interrupted.
	action := map[scenario.Status]string{scenario.Pass: "pass", scenario.Fail: "fail", scenario.Skip: "skip", scenario.Interrupted: "skip"}[r.Status]
	word := strings.ToUpper(action)
	if r.Status == scenario.Interrupted {
		word += " (interrupted)"
	}
	out(fmt.Sprintf("--- %s: %s (%.2fs)", word, r.Name, r.Elapsed.Seconds()))
	j.emit(testEvent{Action: action, Package: s.File, Test: r.Name, Elapsed: seconds(r.Elapsed)})
}

func (j *jsonReporter) end(s *scenario.Scenario, r *scenario.Run, tails []string, kept string) {
	for _, c := range r.KeptCaptures() {
		tails = append(tails, c.String())
	}
	for _, text := range append(tails, kept) {
		for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			if line != "" {
				j.emit(testEvent{Action: "output", Package: s.File, Test: s.Name, Output: "    " + line + "\n"})
			}
		}
	}
	// An interrupted scenario did not pass: it fails, as go test's
	// package does when interrupted, and its output says why.
	action, word := "pass", "PASS"
	if stop := r.Interrupted(); stop != nil {
		j.emit(testEvent{Action: "output", Package: s.File, Test: s.Name, Output: "    " + stop.Error() + "; torn down\n"})
		action, word = "fail", "FAIL"
	}
	if r.Failed() {
		action, word = "fail", "FAIL"
	} else if r.Unmet() {
		action, word = "skip", "SKIP"
	}
	j.emit(testEvent{Action: "output", Package: s.File, Test: s.Name, Output: fmt.Sprintf("--- %s: %s (%.2fs)\n", word, s.Name, r.Elapsed().Seconds())})
	j.emit(testEvent{Action: action, Package: s.File, Test: s.Name, Elapsed: seconds(r.Elapsed())})
	j.emit(testEvent{Action: "output", Package: s.File, Output: word + "\n"})
	j.emit(testEvent{Action: action, Package: s.File, Elapsed: seconds(r.Elapsed())})
}

// summary reports each file not run as a package skipped, saying why.
func (j *jsonReporter) summary(_ []*scenario.Run, notRun []*scenario.Scenario, stopped *interruption, _ time.Duration) {
	for _, s := range notRun {
		j.emit(testEvent{Action: "start", Package: s.File})
		j.emit(testEvent{Action: "output", Package: s.File, Output: stopped.Error() + ": not run\n"})
		j.emit(testEvent{Action: "skip", Package: s.File, Elapsed: seconds(0)})
	}
}
