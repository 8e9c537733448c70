package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/nettest"
)

// A lab's supervisor is this binary, started by up as
// "nettest-run supervise [--set ...] FILE" in a session of its own, with
// file descriptor 3 a socket to up. It claims the lab, builds it, reports
// on fd 3 (an upReport), then keeps it: the network (and so the
// forwarders of userspace links, the captures and the partitions) lives
// in this process, which serves the lab's socket until down, SIGTERM or
// SIGINT, and then tears everything down. Its output goes to lab.Log.
//
// Until the lab is up, up's end of fd 3 closing (up killed) stops the
// build and removes what was made, as a signal does.

// upFD is the supervisor's socket to up.
const upFD = 3

// upReport is what the supervisor tells up once the lab is up, or why it
// is not (having removed what it made).
type upReport struct {
	OK    bool   `json:"ok"`
	Code  int    `json:"code,omitempty"` // up's exit code on failure
	Error string `json:"error,omitempty"`
	Text  string `json:"text,omitempty"` // what up prints: how to enter it
}

func superviseCommand() *cobra.Command {
	c := &cobra.Command{
		Use:               "supervise [--set NAME=VALUE] FILE",
		Short:             "build a lab and keep it, serving its socket (started by up)",
		Hidden:            true,
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	set := setFlagOn(c.Flags())
	maxSize := maxSizeFlag(c.Flags())
	c.RunE = ran(func(_ *cobra.Command, args []string) error {
		return cmdSupervise(args, set, *maxSize)
	})
	return c
}

// supervisor keeps a lab that is up.
type supervisor struct {
	st  *lab.State
	r   *scenario.Run
	n   *nettest.Network
	ln  net.Listener
	log *log.Logger

	quit    chan string   // why to go down: "down", a signal
	done    chan struct{} // closed once the lab is torn down
	replies sync.WaitGroup

	mu       sync.Mutex
	flaps    map[*nettest.Link]*flapping
	parts    []namedPartition
	nextPart int
	captures map[*liveCapture]bool
}

type flapping struct {
	cancel context.CancelFunc
	done   <-chan error
	period time.Duration
}

type namedPartition struct {
	name string
	p    *nettest.Partition
}

type liveCapture struct {
	c    *nettest.Capture
	end  chan struct{}
	once sync.Once
}

func (lc *liveCapture) stop() { lc.once.Do(func() { close(lc.end) }) }

func cmdSupervise(args []string, set setFlag, maxSize int64) error {
	var sst unix.Stat_t
	if err := unix.Fstat(upFD, &sst); err != nil || sst.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return usageError("usage: supervise is started by nettest-run up, with a socket to it as file descriptor %d (use nettest-run up FILE)", upFD)
	}
	ctl := os.NewFile(upFD, "up")
	report := func(r upReport) {
		json.NewEncoder(ctl).Encode(r)
	}
	fail := func(err error) error {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		report(upReport{Code: code, Error: err.Error()})
		return &exitError{code, ""}
	}
	s, err := parseOne("up", args, set, maxSize)
	if err != nil {
		return fail(err)
	}

	// A signal, or up ending before the lab is up, stops the build.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var ready atomic.Bool
	quit := make(chan string, 1)
	go func() {
		for sig := range sigs {
			if !ready.Load() {
				cancel(&interruption{sig.(syscall.Signal)})
			}
			select {
			case quit <- signalName(sig.(syscall.Signal)):
			default:
			}
		}
	}()
	go func() {
		io.Copy(io.Discard, ctl)
		if !ready.Load() {
			cancel(errors.New("up ended before the lab was up"))
		}
	}()

	st := &lab.State{Name: s.Name, File: s.File, By: "up", Created: time.Now(), Owner: owner.Self(), Supervised: true, Topology: s.Topology}
	if err := st.Claim(); err != nil {
		return fail(labError(err))
	}
	logger, err := redirectOutput(lab.Log(s.Name))
	if err != nil {
		st.Remove()
		return fail(err)
	}
	logger.Printf("supervisor of %s (%s), pid %d", s.Name, s.File, os.Getpid())
	var stMu sync.Mutex
	r := scenario.NewRun(s, scenario.Options{Detach: true, FilesDir: lab.FilesDir(s.Name), Adopt: func(p scenario.Started) error {
		stMu.Lock()
		defer stMu.Unlock()
		st.Processes = append(st.Processes, lab.Process{Name: p.Name, Node: p.Node, PID: p.PID, StartTime: owner.StartTime(p.PID), Boot: owner.BootID(), Command: p.Command, Dir: p.Dir})
		return st.Write()
	}})
	undo := func(err error) error {
		logger.Printf("not up: %v", err)
		r.Close()
		if rerr := st.Remove(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing what up made: %w", rerr))
		}
		var intr *interruption
		if errors.As(context.Cause(ctx), &intr) {
			return fail(&exitError{intr.code(), fmt.Sprintf("up %s: %v: nothing of it remains", s.Name, intr)})
		}
		return fail(err)
	}
	t0 := time.Now()
	if err := r.Setup(ctx); err != nil {
		if r.InvalidInput() {
			err = &exitError{2, err.Error()}
		}
		return undo(err)
	}
	names, err := r.Network.Persist()
	if err != nil {
		return undo(err)
	}
	ln, err := net.Listen("unix", lab.Socket(s.Name))
	if err != nil {
		return undo(fmt.Errorf("serving %s: %w", lab.Socket(s.Name), err))
	}
	if ctx.Err() != nil {
		ln.Close()
		return undo(context.Cause(ctx))
	}
	stMu.Lock()
	st.Namespaces, st.Complete = names, true
	err = st.Write()
	stMu.Unlock()
	if err != nil {
		ln.Close()
		return undo(err)
	}
	ready.Store(true)
	sv := &supervisor{st: st, r: r, n: r.Network, ln: ln, log: logger, quit: quit, done: make(chan struct{}),
		flaps: map[*nettest.Link]*flapping{}, captures: map[*liveCapture]bool{}}
	report(upReport{OK: true, Text: sv.upText(s, time.Since(t0))})
	ctl.Close()
	logger.Printf("up, built in %s; serving %s", dur(time.Since(t0)), lab.Socket(s.Name))
	go sv.serve()
	why := <-quit
	logger.Printf("going down: %s", why)
	err = sv.teardown()
	close(sv.done)
	waitTimeout(&sv.replies, 5*time.Second)
	if err != nil {
		logger.Printf("teardown: %v", err)
		return err
	}
	return nil
}

// redirectOutput points this process's standard output and error (and
// so a panic's trace) at the log file, and returns a logger writing there.
func redirectOutput(path string) (*log.Logger, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for _, fd := range []int{1, 2} {
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return nil, fmt.Errorf("redirecting output to %s: %w", path, err)
		}
	}
	return log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds), nil
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// upText is what up prints once the lab is up.
func (sv *supervisor) upText(s *scenario.Scenario, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is up (%s, built in %s). Enter a node:\n", s.Name, counts(s), dur(took))
	b.WriteString(enterHelp(s.Name, sv.n))
	for _, p := range sv.st.Processes {
		fmt.Fprintf(&b, "  process %s in %s: pid %d, files and output.log in %s\n", p.Name, p.Node, p.PID, p.Dir)
	}
	if links := userspaceLinks(sv.n); len(links) > 0 {
		fmt.Fprintf(&b, "  link %s: impaired in userspace, by the lab's supervisor\n", strings.Join(links, ", "))
	}
	fmt.Fprintf(&b, "Its supervisor (pid %d, log %s) keeps it: nettest-run link, impair, partition, heal, pingall, capture and graph change and show it.\n", os.Getpid(), lab.Log(s.Name))
	fmt.Fprintf(&b, "nettest-run status shows it; nettest-run down %s removes it.\n", s.Name)
	return b.String()
}

// serve answers the lab's socket until it is closed.
func (sv *supervisor) serve() {
	for {
		c, err := sv.ln.Accept()
		if err != nil {
			return
		}
		go sv.handle(c)
	}
}

// teardown ends everything the supervisor keeps, then removes the lab:
// its processes, namespaces, files and state.
func (sv *supervisor) teardown() error {
	sv.ln.Close()
	sv.mu.Lock()
	for _, f := range sv.flaps {
		f.cancel()
	}
	for lc := range sv.captures {
		lc.stop()
	}
	flaps := sv.flaps
	sv.mu.Unlock()
	for _, f := range flaps {
		<-f.done
	}
	// The captures' handlers stop them (writing their statistics) and
	// close their connections.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		sv.mu.Lock()
		n := len(sv.captures)
		sv.mu.Unlock()
		if n == 0 {
			break
		}
	}
	sv.r.Close()
	return sv.st.Remove()
}

// handle answers one connection: one request.
func (sv *supervisor) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		writeResponse(c, response{Code: 2, Error: fmt.Sprintf("lab %s: a request it cannot read: %v", sv.st.Name, err)})
		return
	}
	switch req.Op {
	case "down":
		sv.replies.Add(1)
		defer sv.replies.Done()
		select {
		case sv.quit <- "nettest-run down":
		default: // going down already
		}
		<-sv.done
		writeResponse(c, response{OK: true})
		return
	case "capture":
		sv.capture(c, br, req)
		return
	}
	resp := sv.do(req)
	if !resp.OK {
		sv.log.Printf("%s: %s", req.Op, resp.Error)
	}
	writeResponse(c, resp)
}

// failed is a response that failed with code.
func failed(code int, format string, args ...any) response {
	return response{Code: code, Error: fmt.Sprintf(format, args...)}
}

// do answers every request but down and capture.
func (sv *supervisor) do(req request) response {
	switch req.Op {
	case "status":
		ls := sv.status()
		return response{OK: true, Status: &ls}
	case "link":
		return sv.link(req)
	case "impair":
		return sv.impair(req)
	case "partition":
		return sv.partition(req)
	case "heal":
		return sv.heal(req)
	case "pingall":
		return sv.pingall(req)
	case "graph":
		out, err := scenario.GraphLive(sv.st.Name, sv.st.Topology, sv.liveLinks(), req.Format)
		if err != nil {
			return failed(2, "%v", err)
		}
		return response{OK: true, Text: out}
	}
	return failed(2, "lab %s: its supervisor does not know the request %q (a nettest-run of another version?)", sv.st.Name, req.Op)
}

// findLink returns a link of the lab, or a response that lists them.
func (sv *supervisor) findLink(ref string) (*nettest.Link, *response) {
	l, err := sv.n.Link(ref)
	if err != nil {
		var names []string
		for _, l := range sv.n.Links() {
			names = append(names, l.Name())
		}
		r := failed(2, "lab %s has no link %q (links: %s)", sv.st.Name, ref, strings.Join(names, ", "))
		return nil, &r
	}
	return l, nil
}

// stopFlap stops a link's flapping, if any, leaving the link up.
func (sv *supervisor) stopFlap(l *nettest.Link) {
	sv.mu.Lock()
	f := sv.flaps[l]
	delete(sv.flaps, l)
	sv.mu.Unlock()
	if f != nil {
		f.cancel()
		<-f.done
	}
}

func (sv *supervisor) link(req request) response {
	l, bad := sv.findLink(req.Link)
	if bad != nil {
		return *bad
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch req.Action {
	case "down":
		sv.stopFlap(l)
		if err := l.SetDown(); err != nil {
			return failed(1, "link %s: %v", l.Name(), err)
		}
		return response{OK: true, Text: fmt.Sprintf("link %s is down (%s and %s)\n", l.Name(), l.A(), l.B())}
	case "up":
		sv.stopFlap(l)
		if err := l.SetUp(ctx); err != nil {
			return failed(1, "link %s: %v", l.Name(), err)
		}
		return response{OK: true, Text: fmt.Sprintf("link %s is up (%s and %s)\n", l.Name(), l.A(), l.B())}
	case "flap":
		sv.stopFlap(l)
		if req.Period <= 0 {
			return failed(2, "link %s: flap needs a period above 0", l.Name())
		}
		if req.Times == 0 {
			fctx, fcancel := context.WithCancel(context.Background())
			f := &flapping{cancel: fcancel, done: l.Flap(fctx, req.Period, req.Period, 1<<31-1), period: req.Period}
			sv.mu.Lock()
			sv.flaps[l] = f
			sv.mu.Unlock()
			return response{OK: true, Text: fmt.Sprintf("link %s is flapping: down %s, up %s, until nettest-run link %s %s up (or down)\n", l.Name(), req.Period, req.Period, sv.st.Name, l.Name())}
		}
		fctx, fcancel := context.WithTimeout(context.Background(), time.Duration(req.Times)*2*req.Period+time.Minute)
		defer fcancel()
		if err := <-l.Flap(fctx, req.Period, req.Period, req.Times); err != nil {
			return failed(1, "link %s: flapping: %v", l.Name(), err)
		}
		return response{OK: true, Text: fmt.Sprintf("link %s flapped %s: down %s, up %s each time; it is up\n", l.Name(), plural(req.Times, "time"), req.Period, req.Period)}
	}
	return failed(2, "link %s: %q: want down, up or flap", l.Name(), req.Action)
}

// impairText says how a link is impaired, each way: "delay 20ms both
// ways", "h1 -> r1: loss 10%; r1 -> h1: none", "" when it is not.
func impairText(l *nettest.Link) string {
	imp := l.Impairments()
	switch {
	case imp.AB.IsZero() && imp.BA.IsZero():
		return ""
	case sameImpairment(imp.AB, imp.BA):
		return imp.AB.String() + " both ways"
	}
	side := func(i nettest.Impairment) string {
		if i.IsZero() {
			return "none"
		}
		return i.String()
	}
	a, b := l.A().Node().Name(), l.B().Node().Name()
	return fmt.Sprintf("%s -> %s: %s; %s -> %s: %s", a, b, side(imp.AB), b, a, side(imp.BA))
}

// sameImpairment compares two directions' impairments but for their seeds.
func sameImpairment(a, b nettest.Impairment) bool {
	a.Seed, b.Seed = 0, 0
	return a == b
}

func (sv *supervisor) impair(req request) response {
	l, bad := sv.findLink(req.Link)
	if bad != nil {
		return *bad
	}
	imp := req.Impair
	if req.Clear {
		imp = nettest.Impairment{}
	}
	if err := imp.Validate(); err != nil {
		return failed(2, "link %s: %v", l.Name(), err)
	}
	cur := l.Impairments()
	switch req.Dir {
	case "", "both":
		cur = nettest.Both(imp)
	case "a-b":
		cur.AB = imp
	case "b-a":
		cur.BA = imp
	default:
		return failed(2, "link %s: direction %q: want both, a-b (from %s) or b-a (from %s)", l.Name(), req.Dir, l.A().Node().Name(), l.B().Node().Name())
	}
	if err := l.Impair(cur); err != nil {
		msg := err.Error() // it names the link
		if errors.Is(err, nettest.ErrUnsupported) {
			msg += fmt.Sprintf(" (in the file: impair-via: userspace on the link; then nettest-run down %s and up again)", sv.st.Name)
		}
		return failed(2, "%s", msg)
	}
	text := impairText(l)
	if text == "" {
		text = "not impaired"
	}
	return response{OK: true, Text: fmt.Sprintf("link %s: %s (%s)\n", l.Name(), text, l.Mechanism())}
}

func (sv *supervisor) partition(req request) response {
	if len(req.Nodes) == 0 {
		return failed(2, "partition: name the nodes to cut off")
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	name := req.Name
	if name == "" {
		sv.nextPart++
		name = fmt.Sprintf("p%d", sv.nextPart)
	}
	if slices.ContainsFunc(sv.parts, func(p namedPartition) bool { return p.name == name }) {
		return failed(2, "lab %s has a partition %s already (heal it first, or give another --name)", sv.st.Name, name)
	}
	p, err := sv.n.Partition(req.Nodes...)
	if err != nil {
		return failed(2, "partition: %v", err)
	}
	sv.parts = append(sv.parts, namedPartition{name, p})
	return response{OK: true, Text: fmt.Sprintf("partition %s: %s; nettest-run heal %s %s undoes it\n", name, p, sv.st.Name, name)}
}

func (sv *supervisor) heal(req request) response {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if len(sv.parts) == 0 {
		return response{OK: true, Text: fmt.Sprintf("lab %s has no partition to heal\n", sv.st.Name)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b strings.Builder
	var kept []namedPartition
	found := false
	for _, p := range sv.parts {
		if req.Name != "" && p.name != req.Name {
			kept = append(kept, p)
			continue
		}
		found = true
		if err := p.p.Heal(ctx); err != nil {
			return failed(1, "healing %s: %v", p.name, err)
		}
		fmt.Fprintf(&b, "healed %s: %s\n", p.name, p.p)
	}
	if !found {
		var names []string
		for _, p := range sv.parts {
			names = append(names, p.name)
		}
		return failed(2, "lab %s has no partition %q (partitions: %s)", sv.st.Name, req.Name, strings.Join(names, ", "))
	}
	sv.parts = kept
	return response{OK: true, Text: b.String()}
}

func (sv *supervisor) pingall(req request) response {
	var opts []assertions.PingOption
	if req.Count > 0 {
		opts = append(opts, assertions.Count(req.Count))
	}
	if req.Timeout > 0 {
		opts = append(opts, assertions.Timeout(req.Timeout))
	}
	switch req.Family {
	case "ipv4":
		opts = append(opts, assertions.IPv4())
	case "ipv6":
		opts = append(opts, assertions.IPv6())
	case "":
	default:
		return failed(2, "pingall: family %q: want ipv4 or ipv6", req.Family)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := assertions.PingAll(ctx, sv.n, req.Nodes, opts...)
	if err != nil {
		return failed(2, "pingall: %v", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pingall %s: %d/%d pings failed\n%s\n", sv.st.Name, r.Failed, r.Total, r.Matrix)
	for _, f := range r.Failures {
		b.WriteString(f + "\n")
	}
	if r.Failed > 0 {
		return response{Code: 1, Text: b.String()}
	}
	return response{OK: true, Text: b.String()}
}

// liveLinks returns each link's state, for a graph.
func (sv *supervisor) liveLinks() map[string]scenario.LiveLink {
	out := map[string]scenario.LiveLink{}
	for _, l := range sv.n.Links() {
		out[l.Name()] = scenario.LiveLink{Down: !l.IsUp(), Impairment: impairText(l)}
	}
	return out
}

// headed writes a capture's stream to its connection, after the response
// that says it started.
type headed struct {
	w     io.Writer
	begun bool
}

func (h *headed) Write(p []byte) (int, error) {
	if !h.begun {
		h.begun = true
		if err := writeResponse(h.w, response{OK: true}); err != nil {
			return 0, err
		}
	}
	return h.w.Write(p)
}

// capture streams a capture to the connection until the client closes it
// or the lab goes down.
func (sv *supervisor) capture(c net.Conn, br *bufio.Reader, req request) {
	ep, err := nettest.ParseEndpoint(req.Endpoint)
	if err == nil && ep.Iface == "" {
		err = fmt.Errorf("want NODE:IFACE (h1:eth0)")
	}
	if err != nil {
		writeResponse(c, failed(2, "capture %s: %v", req.Endpoint, err))
		return
	}
	nd, err := sv.n.Node(ep.Node)
	if err != nil {
		writeResponse(c, failed(2, "capture %s: %v", req.Endpoint, err))
		return
	}
	h := &headed{w: c}
	capt, err := nd.CaptureTo(ep.Iface, h)
	if err != nil {
		if !h.begun {
			writeResponse(c, failed(2, "%v", err))
		}
		return
	}
	lc := &liveCapture{c: capt, end: make(chan struct{})}
	sv.mu.Lock()
	sv.captures[lc] = true
	sv.mu.Unlock()
	sv.log.Printf("capture on %s: started", capt)
	go func() {
		io.Copy(io.Discard, br) // until the client closes
		lc.stop()
	}()
	<-lc.end
	c.SetWriteDeadline(time.Now().Add(time.Second))
	err = capt.Stop()
	sv.log.Printf("capture on %s: ended (%v)", capt, err)
	sv.mu.Lock()
	delete(sv.captures, lc)
	sv.mu.Unlock()
}

// status is the lab as its supervisor sees it.
func (sv *supervisor) status() labStatus {
	ls := labStatusOf(sv.st, sv.n, netnsProcesses(), func(l *nettest.Link) string {
		sv.mu.Lock()
		defer sv.mu.Unlock()
		if sv.flaps[l] != nil {
			return "flapping"
		}
		return ""
	})
	sv.mu.Lock()
	for _, p := range sv.parts {
		var links []string
		for _, l := range p.p.Links() {
			links = append(links, l.Name())
		}
		ls.Partitions = append(ls.Partitions, partitionStatus{Name: p.name, Cut: p.p.String(), Links: links})
	}
	sv.mu.Unlock()
	return ls
}
