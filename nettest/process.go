package nettest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/shim"
)

// DefaultGrace is how long Stop waits after SIGTERM before SIGKILL.
const DefaultGrace = 5 * time.Second

// Cmd is an external command run inside a node, in the manner of exec.Cmd.
// Set the exported fields before Start.
//
// The command runs in the node's network namespace and, under a small init
// process of nettest's (see the package documentation on commands), in a
// PID, mount and UTS namespace of its own: its hostname is the node's name,
// /etc/hosts names every node of the topology (IPv4 and IPv6), /sys shows
// the node's interfaces and /proc its own processes. Its /etc, /run,
// /var/run, /tmp, /var/tmp and /var/log are the node's own (see
// Node.FilePath): shared by every program of the node, seen by no other
// node, never written to the host's. When it ends, or is stopped, every
// process it started ends with it, and none outlives the test process, even
// one killed with SIGKILL.
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
	// process, and the command keeps no log (Log is empty; WaitLog waits
	// until the command ends or ctx does).
	Detach bool
	// Adopt, for a detached command, is called with the shim's PID (the
	// process that Stop and the parent-death rules act on) once it runs and
	// before the command starts: the place to record it, so that a process
	// left by a caller that is killed can be found and ended. The command
	// starts only after Adopt returns nil; an error ends the shim and is
	// returned by Start. If this process dies before that, the shim exits
	// without starting the command: a detached command never runs unowned.
	Adopt func(pid int) error
	// Mirror, when set, also receives every line the command writes to
	// stdout or stderr, as it comes (a test log, say). Clone leaves it out.
	Mirror io.Writer

	node    *Node
	program string // the registered Go program to run (ProgramCommand)
	lookErr error
	cmd     *exec.Cmd
	status  *bufio.Reader // the shim's status pipe
	log     *cmdLog
	outs    []*lineWriter
	waitErr error
	done    chan struct{}
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

// lookError words an error of exec.LookPath as the rest of nettest's errors
// about a program: "NAME: executable file not found in $PATH".
func lookError(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return fmt.Errorf("%s: %w", ee.Name, ee.Err)
	}
	return err
}

// Clone returns a new, unstarted Cmd with the same program, arguments,
// environment, directory, writers, Detach and Adopt (not Mirror): the way to start
// a stopped command again.
func (c *Cmd) Clone() *Cmd {
	return &Cmd{
		Path: c.Path, Args: slices.Clone(c.Args), Env: slices.Clone(c.Env), Dir: c.Dir,
		Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr, Detach: c.Detach, Adopt: c.Adopt,
		node: c.node, program: c.program, lookErr: c.lookErr,
	}
}

// Node returns the node the command runs in.
func (c *Cmd) Node() *Node { return c.node }

// String returns the command line, "node: path args...".
func (c *Cmd) String() string {
	return c.node.p.name + ": " + strings.Join(append([]string{c.Path}, c.Args[1:]...), " ")
}

// Start starts the command and returns without waiting for it: once the
// command runs (and signals sent to it are forwarded), or with the reason it
// could not start.
func (c *Cmd) Start() error {
	self, err := c.checkStart()
	if err != nil {
		return err
	}
	c.log = newCmdLog()
	stdout, stderr, err := c.streams()
	if err != nil {
		return err
	}
	first := make(chan string, 1)
	err = c.node.net.use("node "+c.node.p.name, func() error { return c.launch(self, stdout, stderr, first) })
	if err != nil {
		c.log.close()
		if errors.Is(err, ErrClosed) {
			return err
		}
		return fmt.Errorf("%s: %w", c.node.where(), err)
	}
	return c.started(<-first)
}

// checkStart refuses a command whose program was not found or that was
// started already, and returns this binary, which runs as the shim.
func (c *Cmd) checkStart() (self string, err error) {
	if c.lookErr != nil {
		return "", fmt.Errorf("%s: %w", c.node.where(), lookError(c.lookErr))
	}
	if c.cmd != nil {
		return "", fmt.Errorf("%s: %s: already started", c.node.where(), c)
	}
	if self, err = os.Executable(); err != nil {
		return "", fmt.Errorf("%s: finding this program for the shim: %w", c.node.where(), err)
	}
	return self, nil
}

// streams returns the writers the shim's stdout and stderr go to: the
// command's files as they are when it is detached (it keeps no log), else
// writers that also feed the log.
func (c *Cmd) streams() (stdout, stderr io.Writer, err error) {
	if !c.Detach {
		return c.output(c.Stdout), c.output(c.Stderr), nil
	}
	if stdout, stderr, err = detachedOutput(c); err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", c.node.where(), c, err)
	}
	c.log.close()
	return stdout, stderr, nil
}

// openFiles opens the node's files directory (made as needed) for a shim;
// path is set when the shim must use it instead (a folder: see
// shim.Config.FilesPath).
func (n *Node) openFiles() (f *os.File, path string, err error) {
	dir, err := n.net.files.nodeDir(n)
	if err != nil {
		return nil, "", err
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("opening the node's own files: %w", err)
	}
	if n.net.files.fd < 0 {
		path = dir
	}
	return os.NewFile(uintptr(fd), "files"), path, nil
}

// launch starts the shim while the network is held open, lets a detached
// one go once Adopt accepted it, and starts the goroutine that reaps it,
// which sends the shim's first status line to first.
func (c *Cmd) launch(self string, stdout, stderr io.Writer, first chan<- string) error {
	files, filesPath, err := c.node.openFiles()
	if err != nil {
		return err
	}
	defer files.Close()
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	cfg := shim.Config{Path: c.Path, Args: c.Args, Dir: c.Dir, Hostname: c.node.p.name, Overlay: c.node.net.files.overlay, FilesPath: filesPath, Keep: keepDirs(c.Dir)}
	if c.program != "" {
		cfg.ExtraEnv = []string{programEnv + "=" + c.program}
	}
	var l *shim.Launch
	err = c.node.ns.withFD(func(fd netns.NsHandle) (err error) {
		// Prepare keeps a copy of the descriptor.
		l, err = shim.Prepare(shim.Request{
			Self: self, Name: "nettest-shim:" + c.node.p.name, Env: env,
			Stdin: c.Stdin, Stdout: stdout, Stderr: stderr,
			NetNS: int(fd), Files: files, Config: cfg, Detach: c.Detach,
		})
		return err
	})
	if err != nil {
		return err
	}
	if err := l.Spawn(); err != nil {
		return privilegeError("starting "+c.String(), err)
	}
	if err := l.Release(c.Adopt); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	// Everything Close needs is set before it can see the command.
	c.cmd, c.status, c.done = l.Cmd, bufio.NewReader(l.Status), make(chan struct{})
	go func() {
		line, _ := c.status.ReadString('\n')
		first <- line
		c.wait(l.Status)
	}()
	if !c.Detach {
		c.node.net.mu.Lock()
		c.node.net.cmds = append(c.node.net.cmds, c)
		c.node.net.mu.Unlock()
	}
	return nil
}

// started turns the shim's first status line into Start's result.
func (c *Cmd) started(line string) error {
	ok, errno, msg := shim.ParseStarted(line)
	switch {
	case ok:
		return nil
	case errno != 0:
		<-c.done
		return fmt.Errorf("%s: %s: %w", c.node.where(), c.Path, errno)
	case msg != "":
		<-c.done
		return fmt.Errorf("%s: starting %s: %s", c.node.where(), c, msg)
	}
	<-c.done
	return fmt.Errorf("%s: starting %s: %v", c.node.where(), c, c.waitErr)
}

// output returns the writer for one of the command's streams: its bytes go
// unchanged to w (if set), and line by line to the log and the Mirror.
func (c *Cmd) output(w io.Writer) io.Writer {
	lw := &lineWriter{emit: c.log.add, mirror: c.Mirror, mu: &c.log.mirrorMu}
	c.outs = append(c.outs, lw)
	if w == nil {
		return lw
	}
	return io.MultiWriter(w, lw)
}

// wait reaps the shim and works out how the command ended.
func (c *Cmd) wait(status *os.File) {
	err := c.cmd.Wait()
	origErr := err
	rest, _ := io.ReadAll(c.status)
	status.Close()
	for _, lw := range c.outs {
		lw.flush()
	}
	c.log.close()
	var exitErr *exec.ExitError
	copyErr := err != nil && !errors.As(err, &exitErr)
	if ws, seen, ok := shim.ExitStatus(string(rest)); seen {
		// The shim saw the command end: report its own status, not the shim's.
		if ok {
			switch {
			case ws.Exited() && ws.ExitStatus() == 0:
				err = nil
			case ws.Exited():
				err = fmt.Errorf("exit status %d", ws.ExitStatus())
			case ws.Signaled():
				err = fmt.Errorf("signal: %v", ws.Signal())
			}
		}
		if copyErr {
			err = errors.Join(err, fmt.Errorf("copying its output: %w", origErr))
		}
	} else if err != nil {
		err = fmt.Errorf("%w (the command did not run to its end: %s)", err, c.log.lastLine())
	}
	if err != nil {
		err = &ExitError{Cmd: c.String(), Err: err}
	}
	c.waitErr = err
	n := c.node.net
	n.mu.Lock()
	n.cmds = slices.DeleteFunc(n.cmds, func(x *Cmd) bool { return x == c })
	n.mu.Unlock()
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

// Signal sends sig to the command's process group. Catchable signals go
// through nettest's init process, which passes them on; SIGSTOP goes to the
// command's group directly; SIGKILL ends the command and everything it
// started.
func (c *Cmd) Signal(sig os.Signal) error {
	if c.cmd == nil {
		return fmt.Errorf("%s: %s: not started", c.node.where(), c)
	}
	if sig == syscall.SIGSTOP {
		pid, err := c.commandPid()
		if err != nil {
			return err
		}
		return unix.Kill(-pid, unix.SIGSTOP)
	}
	return c.cmd.Process.Signal(sig)
}

// commandPid returns the command's process ID as this process sees it: the
// child of nettest's init process.
func (c *Cmd) commandPid() (int, error) {
	shim := c.cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", shim, shim))
	if err != nil {
		return 0, fmt.Errorf("%s: finding the command's process: %w", c, err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("%s: the command has no process (it ended?)", c)
	}
	return strconv.Atoi(f[0])
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
	if ctx == nil {
		return nilContext(c.node.where()+": "+c.String(), "WaitLog")
	}
	if c.log == nil {
		return fmt.Errorf("%s: %s: not started", c.node.where(), c)
	}
	return c.log.wait(ctx, re, c.String())
}

// WaitTCP returns when a TCP connection to address succeeds from inside the
// node (the command listens), or fails when ctx ends or the command exits.
// The address may name a node ("h2:80"), as in Node.DialContext.
func (c *Cmd) WaitTCP(ctx context.Context, address string) error {
	if ctx == nil {
		return nilContext(c.node.where()+": "+c.String(), "WaitTCP")
	}
	return c.poll(ctx, "a listener on "+address, func() error {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := c.node.DialContext(dctx, "tcp", address)
		if err == nil {
			conn.Close()
		}
		return err
	})
}

// WaitFile returns when path exists, or fails when ctx ends or the command
// exits first. A path in one of the node's own directories (/run, /tmp,
// /etc, ...; see Node.FilePath) is the node's file, as the command sees it
// (but for its working directory Dir, which is the host's).
func (c *Cmd) WaitFile(ctx context.Context, path string) error {
	if ctx == nil {
		return nilContext(c.node.where()+": "+c.String(), "WaitFile")
	}
	at := path
	if p, err := c.node.FilePath(path); err == nil && (c.Dir == "" || !within(filepath.Clean(path), filepath.Clean(c.Dir))) {
		at = p // not in its working directory, which stays the host's
	}
	return c.poll(ctx, "file "+path, func() error {
		_, err := os.Stat(at)
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

// Hosts returns the topology's hosts file, in the format of hosts(5): every
// node's addresses under its name and, for each interface, "node-iface".
// It is every node's /etc/hosts, unless the test wrote its own there.
func (n *Network) Hosts() string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	fmt.Fprintf(&b, "%s%s\n", shim.HostsMark, n.name)
	for _, node := range n.Nodes() {
		for _, in := range node.ifaces {
			for _, a := range in.p.addrs {
				fmt.Fprintf(&b, "%s\t%s %s-%s\n", a.Addr(), node.p.name, node.p.name, in.p.name)
			}
		}
	}
	return b.String()
}
