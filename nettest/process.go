package nettest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultGrace is how long Stop waits after SIGTERM before SIGKILL.
const DefaultGrace = 5 * time.Second

// Cmd is an external command run inside a node, in the manner of exec.Cmd.
// Set the exported fields before Start.
//
// The command runs in the node's network namespace and, under a small init
// process of nettest's (see the package documentation on commands), in a
// PID, mount and UTS namespace of its own: its hostname is the node's name,
// /etc/hosts names every node of the topology (IPv4 and IPv6, without
// touching the host's /etc), /sys shows the node's interfaces and /proc its
// own processes. When it ends, or is stopped, every process it started ends
// with it, and none outlives the test process, even one killed with SIGKILL.
type Cmd struct {
	// Path and Args are as in exec.Cmd: Args[0] is the command's name.
	Path string
	Args []string
	// Env is the command's environment; nil means this process's.
	Env []string
	// Dir is the working directory; empty means this process's.
	Dir string
	// Stdin, Stdout and Stderr are as in exec.Cmd. Output also goes to the
	// command's log (see Log and WaitLog).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Detach lets the command outlive this process: no parent-death
	// signal, a session of its own, and Network.Close leaves it running
	// (end it with Stop, or by its Pid). Stdin, Stdout and Stderr must then
	// be nil (/dev/null) or *os.File, as a pipe would die with this
	// process, and the command keeps no log (Log is empty, WaitLog fails).
	Detach bool
	// Mirror, when set, also receives every line the command writes to
	// stdout or stderr, as it comes (a test log, say). Clone leaves it out.
	Mirror io.Writer

	node        *Node
	lookErr     error
	cmd         *exec.Cmd
	status      *os.File // read end of the shim's status pipe
	statusLines *bufio.Reader
	log         *cmdLog
	waitErr     error
	done        chan struct{}
	once        sync.Once
}

// Command returns the Cmd to run the named program with the given
// arguments inside the node. A name without a slash is looked up in PATH,
// as exec.Command does.
func (n *Node) Command(name string, args ...string) *Cmd {
	c := &Cmd{Path: name, Args: append([]string{name}, args...), node: n}
	if !strings.Contains(name, "/") {
		if p, err := exec.LookPath(name); err != nil {
			c.lookErr = err
		} else {
			c.Path = p
		}
	}
	return c
}

// Clone returns a new, unstarted Cmd with the same program, arguments,
// environment, directory and writers: the way to start a stopped command
// again.
func (c *Cmd) Clone() *Cmd {
	return &Cmd{
		Path: c.Path, Args: append([]string(nil), c.Args...), Env: append([]string(nil), c.Env...), Dir: c.Dir,
		Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr, node: c.node, lookErr: c.lookErr,
	}
}

// Node returns the node the command runs in.
func (c *Cmd) Node() *Node { return c.node }

// String returns the command line, "node: path args...".
func (c *Cmd) String() string {
	return c.node.p.name + ": " + strings.Join(append([]string{c.Path}, c.Args[1:]...), " ")
}

// Start starts the command and returns without waiting for it.
func (c *Cmd) Start() error {
	if c.lookErr != nil {
		return fmt.Errorf("%s: %w", c.node.where(), c.lookErr)
	}
	if c.cmd != nil {
		return fmt.Errorf("%s: %s: already started", c.node.where(), c)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%s: finding this program for the shim: %w", c.node.where(), err)
	}
	hosts, err := c.node.net.hostsFile()
	if err != nil {
		return fmt.Errorf("%s: %w", c.node.where(), err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return err
	}
	c.log = newCmdLog()
	stdout, stderr := c.log.writer(c.Stdout, c.Mirror), c.log.writer(c.Stderr, c.Mirror)
	if c.Detach {
		if stdout, stderr, err = detachedOutput(c); err != nil {
			statusR.Close()
			statusW.Close()
			return fmt.Errorf("%s: %s: %w", c.node.where(), c, err)
		}
	}
	defer func() {
		if c.cmd == nil { // not started: let the log's readers go
			c.log.close()
		}
	}()
	err = c.node.net.use("node "+c.node.p.name, func() error {
		// A duplicate: an *os.File closes its descriptor when collected.
		dup, err := unix.FcntlInt(uintptr(c.node.ns.fd), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return err
		}
		nsf := os.NewFile(uintptr(dup), "netns")
		defer nsf.Close()
		cfg := shimConfig{
			Path: c.Path, Args: c.Args, Dir: c.Dir, Hostname: c.node.p.name, Hosts: hosts,
			NetNSFD: 3, StatusFD: 4,
		}
		raw, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		env := c.Env
		if env == nil {
			env = os.Environ()
		}
		cmd := &exec.Cmd{
			Path:       self,
			Args:       []string{"nettest-shim:" + c.node.p.name},
			Env:        append(append([]string(nil), env...), shimEnv+"="+string(raw)),
			Stdin:      c.Stdin,
			Stdout:     stdout,
			Stderr:     stderr,
			ExtraFiles: []*os.File{nsf, statusW},
			SysProcAttr: &syscall.SysProcAttr{
				Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS,
				Setpgid:    true,
				Pdeathsig:  syscall.SIGKILL,
			},
		}
		if c.Detach {
			cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Pdeathsig = false, true, 0
		}
		err = spawn(cmd)
		statusW.Close() // the shim has its own copy
		if err != nil {
			return privilegeError("starting "+c.String(), err)
		}
		c.cmd = cmd
		if c.Detach {
			return nil // Close leaves it running
		}
		c.node.net.mu.Lock()
		c.node.net.cmds = append(c.node.net.cmds, c)
		c.node.net.mu.Unlock()
		return nil
	})
	if err != nil {
		statusW.Close()
		statusR.Close()
		return fmt.Errorf("%s: %w", c.node.where(), err)
	}
	// The shim says when the command runs (and its signals are forwarded),
	// or why it could not start it.
	c.status = statusR
	c.statusLines = bufio.NewReader(statusR)
	line, _ := c.statusLines.ReadString('\n')
	word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	c.done = make(chan struct{})
	go c.wait()
	if word != "started" {
		<-c.done
		if word == "error" {
			return fmt.Errorf("%s: starting %s: %s", c.node.where(), c, rest)
		}
		return fmt.Errorf("%s: starting %s: %v", c.node.where(), c, c.waitErr)
	}
	return nil
}

// wait reaps the shim and works out how the command ended.
func (c *Cmd) wait() {
	err := c.cmd.Wait()
	rest, _ := io.ReadAll(c.statusLines)
	c.status.Close()
	c.log.close()
	var s string
	for _, line := range strings.Split(string(rest), "\n") {
		if v, ok := strings.CutPrefix(line, "status "); ok {
			s = v
		}
	}
	if s != "" {
		// The shim saw the command end: report its own status, not the shim's.
		if ws, perr := strconv.ParseUint(s, 10, 32); perr == nil {
			w := unix.WaitStatus(ws)
			switch {
			case w.Exited() && w.ExitStatus() == 0:
				err = nil
			case w.Exited():
				err = fmt.Errorf("exit status %d", w.ExitStatus())
			case w.Signaled():
				err = fmt.Errorf("signal: %v", w.Signal())
			}
		}
	} else if err != nil {
		err = fmt.Errorf("%w (the command did not run to its end: %s)", err, c.log.lastLine())
	}
	if err != nil {
		err = &ExitError{Cmd: c.String(), Err: err}
	}
	c.waitErr = err
	close(c.done)
}

// ExitError reports a command that did not exit with status 0.
type ExitError struct {
	Cmd string // "node: path args..."
	Err error  // "exit status 3", "signal: killed", ...
}

func (e *ExitError) Error() string { return e.Cmd + ": " + e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Wait waits for the command to end and returns nil if it exited with
// status 0, else an *ExitError.
func (c *Cmd) Wait() error {
	if c.done == nil {
		return fmt.Errorf("%s: %s: not started", c.node.where(), c)
	}
	<-c.done
	return c.waitErr
}

// Run starts the command and waits for it.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns what it wrote to stdout.
func (c *Cmd) Output() ([]byte, error) {
	var b strings.Builder
	c.Stdout = &b
	err := c.Run()
	return []byte(b.String()), err
}

// CombinedOutput runs the command and returns stdout and stderr, interleaved.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	var b syncBuilder
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return []byte(b.String()), err
}

// Pid returns the process ID of the command's init process (nettest's
// shim) as this process sees it, 0 before Start.
func (c *Cmd) Pid() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Exited reports whether the command has ended.
func (c *Cmd) Exited() bool {
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the command's process group.
func (c *Cmd) Signal(sig os.Signal) error {
	if c.cmd == nil {
		return fmt.Errorf("%s: %s: not started", c.node.where(), c)
	}
	return c.cmd.Process.Signal(sig)
}

// Stop ends the command: SIGTERM to its process group, then, if it has not
// ended after grace (DefaultGrace when 0), SIGKILL to everything it started.
// A command ended by Stop's signals is no error; one that had already ended,
// or that exits with a failure status on SIGTERM, returns its Wait error.
func (c *Cmd) Stop(grace time.Duration) error {
	if c.done == nil {
		return nil
	}
	if grace <= 0 {
		grace = DefaultGrace
	}
	if c.Exited() {
		return c.waitErr // it ended on its own: say how
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		// The shim is the PID namespace's init: killing it kills all.
		c.cmd.Process.Kill()
		<-c.done
		return nil
	}
	var ee *ExitError
	if errors.As(c.waitErr, &ee) {
		if s := ee.Err.Error(); s == "signal: terminated" || s == "exit status 143" {
			return nil // ended by our SIGTERM
		}
	}
	return c.waitErr
}

// Log returns everything the command has written so far, stdout and stderr
// interleaved.
func (c *Cmd) Log() string {
	if c.log == nil {
		return ""
	}
	return c.log.String()
}

// WaitLog returns when a line of the command's output matches re, or fails
// when ctx ends or the command exits first; the error quotes the last line.
func (c *Cmd) WaitLog(ctx context.Context, re *regexp.Regexp) error {
	if c.log == nil {
		return fmt.Errorf("%s: %s: not started", c.node.where(), c)
	}
	return c.log.wait(ctx, re, c.String())
}

// WaitTCP returns when a TCP connection to address succeeds from inside the
// node (the command listens), or fails when ctx ends or the command exits.
func (c *Cmd) WaitTCP(ctx context.Context, address string) error {
	return c.poll(ctx, "a listener on "+address, func() error {
		var conn net.Conn
		err := c.node.Do(func() (err error) {
			dctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			conn, err = (&net.Dialer{}).DialContext(dctx, "tcp", address)
			return err
		})
		if err == nil {
			conn.Close()
		}
		return err
	})
}

// WaitFile returns when path exists, or fails when ctx ends or the command
// exits first.
func (c *Cmd) WaitFile(ctx context.Context, path string) error {
	return c.poll(ctx, "file "+path, func() error {
		_, err := os.Stat(path)
		return err
	})
}

// poll retries probe until it succeeds, the command exits, or ctx ends.
func (c *Cmd) poll(ctx context.Context, what string, probe func() error) error {
	if c.done == nil {
		return fmt.Errorf("%s: %s: not started", c.node.where(), c)
	}
	pause := time.Millisecond
	var last error // the last failure not caused by ctx ending mid-probe
	for {
		err := probe()
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s: waiting for %s: the command ended first (%v); last output: %s", c, what, c.waitErr, c.log.lastLine())
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w; last seen: %v", c, what, ctx.Err(), last)
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// hostsFile writes the topology's hosts file once, in a folder removed by
// Close, and returns its path.
func (n *Network) hostsFile() (string, error) {
	n.hostsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nettest-"+n.name+"-")
		if err != nil {
			n.hostsErr = fmt.Errorf("writing the hosts file: %w", err)
			return
		}
		n.hostsDir = dir
		path := filepath.Join(dir, "hosts")
		if err := os.WriteFile(path, []byte(n.Hosts()), 0o644); err != nil {
			n.hostsErr = fmt.Errorf("writing the hosts file: %w", err)
			return
		}
		n.hostsPath = path
	})
	return n.hostsPath, n.hostsErr
}

// Hosts returns the topology's hosts file, in the format of hosts(5): every
// node's addresses under its name and, for each interface, "node-iface".
func (n *Network) Hosts() string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	fmt.Fprintf(&b, "# nettest topology %s\n", n.name)
	for _, node := range n.Nodes() {
		for _, in := range node.ifaces {
			for _, a := range in.p.addrs {
				fmt.Fprintf(&b, "%s\t%s %s-%s\n", a.Addr(), node.p.name, node.p.name, in.p.name)
			}
		}
	}
	return b.String()
}

// cmdLog keeps a command's output and lets callers wait for a line.
type cmdLog struct {
	mu       sync.Mutex
	cond     *sync.Cond
	buf      strings.Builder
	lines    []string
	closed   bool
	pipes    []*io.PipeWriter
	readers  sync.WaitGroup
	mirrorMu sync.Mutex // stdout's and stderr's lines reach the mirror whole
}

// maxLog bounds what a command's log keeps; later output still reaches
// Stdout and Stderr.
const maxLog = 16 << 20

func newCmdLog() *cmdLog {
	l := &cmdLog{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// writer returns a writer that feeds the log and then w and mirror (those
// not nil), line by line.
func (l *cmdLog) writer(w, mirror io.Writer) io.Writer {
	pr, pw := io.Pipe()
	l.pipes = append(l.pipes, pw)
	l.readers.Go(func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			l.add(line)
			if w != nil {
				io.WriteString(w, line+"\n")
			}
			if mirror != nil {
				l.mirrorMu.Lock()
				io.WriteString(mirror, line+"\n")
				l.mirrorMu.Unlock()
			}
		}
		pr.CloseWithError(sc.Err())
	})
	return pw
}

func (l *cmdLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() < maxLog {
		l.buf.WriteString(line + "\n")
		l.lines = append(l.lines, line)
	}
	l.cond.Broadcast()
}

// close ends the log once the command's output is all read.
func (l *cmdLog) close() {
	for _, p := range l.pipes {
		p.Close()
	}
	l.readers.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.cond.Broadcast()
}

func (l *cmdLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *cmdLog) lastLine() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return "(none)"
	}
	return strconv.Quote(l.lines[len(l.lines)-1])
}

func (l *cmdLog) wait(ctx context.Context, re *regexp.Regexp, what string) error {
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.cond.Broadcast()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; ; i++ {
		for ; i < len(l.lines); i++ {
			if re.MatchString(l.lines[i]) {
				return nil
			}
		}
		last := "(none)"
		if len(l.lines) > 0 {
			last = strconv.Quote(l.lines[len(l.lines)-1])
		}
		switch {
		case l.closed:
			return fmt.Errorf("%s: no output line matched %q before the command ended; last line: %s", what, re, last)
		case ctx.Err() != nil:
			return fmt.Errorf("%s: no output line matched %q: %w; last line: %s", what, re, ctx.Err(), last)
		}
		l.cond.Wait()
		i--
	}
}

// syncBuilder is a strings.Builder safe for two writers.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
