package nettest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

// DaemonSpec describes a daemon kind: the files it reads, the directories
// it writes in, the processes to start (in order, each ready before the
// next), the commands that finish setting it up, how to tell it is ready,
// and its command-line interface. [FRR] and [BIRD] return the specs of
// those two; any other daemon is a DaemonSpec of the user's. Every path is
// one the daemon sees in its node: its own /etc, /run, /tmp, /var/tmp and
// /var/log (see Node.FilePath), never the host's, so a daemon runs with
// its default paths and flags.
type DaemonSpec struct {
	// Kind names the daemon in errors and logs ("frr", "bird", ...).
	Kind string
	// Dirs are made first, in order.
	Dirs []DaemonDir
	// Files are written next: configuration, each a text/template given
	// the node's NodeFacts (a file without "{{" is written as it is).
	Files []DaemonFile
	// Procs are the daemon's processes, started in order; each is ready
	// before the next starts.
	Procs []DaemonProc
	// Setup are commands run in the node once every process is ready,
	// in order; each must exit 0 (FRR's vtysh -b, which loads frr.conf).
	Setup [][]string
	// Ready is a command run in the node, again and again, until it exits
	// 0: then the daemon is ready. Nil: ready once Setup is done.
	Ready []string
	// CLI is the daemon's command-line interface: Daemon.Exec runs it in
	// the node with the command appended as one last argument
	// ({"vtysh", "-c"}, {"birdc"}).
	CLI []string
	// Vars are the templates' .Vars.
	Vars map[string]string
	// Grace is how long Stop waits for each process after SIGTERM before
	// SIGKILL; DefaultGrace when 0.
	Grace time.Duration
	// Mirror, when set, gives for each process (by its name) a writer that
	// receives every line it prints, as Cmd.Mirror does.
	Mirror func(proc string) io.Writer
}

// DaemonDir is a directory of the node's own that a daemon writes in.
type DaemonDir struct {
	Path string
	// Perm is the directory's mode; 0755 when 0.
	Perm fs.FileMode
	// Owner is "user", "user:group" or empty (root), by name.
	Owner string
}

// DaemonFile is a file of the node's own that a daemon reads.
type DaemonFile struct {
	Path string
	// Text is the file's contents, a text/template given the node's
	// NodeFacts.
	Text string
	// Perm is the file's mode; 0644 when 0.
	Perm fs.FileMode
	// Owner is "user", "user:group" or empty (root), by name.
	Owner string
}

// DaemonProc is one process of a daemon.
type DaemonProc struct {
	// Name names the process in logs and errors; the base of Args[0] when
	// empty.
	Name string
	// Args is the command line; Args[0] is looked up in PATH unless it has
	// a slash.
	Args []string
	// ReadyFiles are paths the process makes in the node (its control
	// socket, its pid file); it is ready once they all exist and Ready
	// succeeds, and then the next process starts.
	ReadyFiles []string
	// Ready is a command run in the node, again and again, until it exits
	// 0. Nil, and no ReadyFiles: the process is ready at once.
	Ready []string
}

func (p DaemonProc) name() string {
	if p.Name != "" {
		return p.Name
	}
	if len(p.Args) == 0 {
		return "(no command)"
	}
	return filepath.Base(p.Args[0])
}

// Daemon is a daemon running in a node (see Node.StartDaemon): one or more
// processes, each a Cmd under nettest's init process, so that none
// outlives the test process, even one killed with SIGKILL, and
// Network.Close ends those still running.
type Daemon struct {
	node  *Node
	spec  DaemonSpec
	mu    sync.Mutex
	procs []*Cmd
	names []string
	// stopped and stopErr make Stop idempotent.
	stopped bool
	stopErr error
}

// String returns "node: kind".
func (d *Daemon) String() string { return d.node.p.name + ": " + d.spec.Kind }

// Node returns the node the daemon runs in.
func (d *Daemon) Node() *Node { return d.node }

// Kind returns the daemon's kind, as its spec names it.
func (d *Daemon) Kind() string { return d.spec.Kind }

// Procs returns the daemon's processes, in the order they started.
func (d *Daemon) Procs() []*Cmd {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*Cmd(nil), d.procs...)
}

// StartDaemon starts a daemon in the node as spec says: its directories
// and files (templates given the node's Facts), then its processes in
// order, each waited for until its ready command succeeds, then the setup
// commands, then the daemon's own ready command. It returns when the
// daemon is ready, or with an error that names the node, the daemon and
// the step, with the output of what failed; a daemon that failed to start
// is stopped. ctx bounds the whole start.
func (n *Node) StartDaemon(ctx context.Context, spec DaemonSpec) (*Daemon, error) {
	if ctx == nil {
		return nil, nilContext(n.where()+": daemon "+spec.Kind, "StartDaemon")
	}
	if spec.Kind == "" {
		spec.Kind = "daemon"
	}
	d := &Daemon{node: n, spec: spec}
	fail := func(err error) (*Daemon, error) {
		d.Stop()
		return nil, fmt.Errorf("%s: %s: %w", n.where(), spec.Kind, err)
	}
	if len(spec.Procs) == 0 {
		return fail(errors.New("no process to start"))
	}
	for _, p := range spec.Procs {
		if len(p.Args) == 0 {
			return fail(fmt.Errorf("process %s: no command", p.name()))
		}
		if strings.Contains(p.Args[0], "/") {
			if _, err := os.Stat(p.Args[0]); err != nil {
				return fail(fmt.Errorf("%s: not found (is %s installed?)", p.Args[0], spec.Kind))
			}
		}
	}
	for _, dir := range spec.Dirs {
		if err := n.daemonDir(dir); err != nil {
			return fail(err)
		}
	}
	facts := n.Facts(spec.Vars)
	for _, f := range spec.Files {
		if err := n.writeDaemonFile(f, facts); err != nil {
			return fail(err)
		}
	}
	for _, p := range spec.Procs {
		c := n.Command(p.Args[0], p.Args[1:]...)
		if spec.Mirror != nil {
			c.Mirror = spec.Mirror(p.name())
		}
		if err := c.Start(); err != nil {
			return fail(err)
		}
		d.mu.Lock()
		d.procs, d.names = append(d.procs, c), append(d.names, p.name())
		d.mu.Unlock()
		for _, f := range p.ReadyFiles {
			if err := c.WaitFile(ctx, f); err != nil {
				return fail(fmt.Errorf("%s not ready: %w", p.name(), err))
			}
		}
		if p.Ready != nil {
			if err := d.poll(ctx, p.Ready); err != nil {
				return fail(fmt.Errorf("%s not ready: %w", p.name(), err))
			}
		}
	}
	for _, s := range spec.Setup {
		if out, err := d.run(ctx, s); err != nil {
			return fail(fmt.Errorf("setting up: %s: %w%s", strings.Join(s, " "), err, quoteOutput(out)))
		}
	}
	if spec.Ready != nil {
		if err := d.poll(ctx, spec.Ready); err != nil {
			return fail(fmt.Errorf("not ready: %w", err))
		}
	}
	n.net.mu.Lock()
	n.daemons = append(n.daemons, d)
	n.net.mu.Unlock()
	return d, nil
}

// reportLines says, for a node's report, how each of the daemon's
// processes is, with the last lines it printed.
func (d *Daemon) reportLines() []string {
	const tail = 3
	var lines []string
	for i, c := range d.Procs() {
		state := "running"
		if c.Exited() {
			state = "ended"
			if err := exitReason(c.Wait()); err != nil {
				state += " (" + err.Error() + ")"
			}
		}
		lines = append(lines, fmt.Sprintf("%s: %s %s", d.spec.Kind, d.names[i], state))
		out := strings.Split(strings.TrimRight(c.Log(), "\n"), "\n")
		if len(out) > tail {
			out = out[len(out)-tail:]
		}
		for _, l := range out {
			if l != "" {
				lines = append(lines, "  | "+l)
			}
		}
	}
	return lines
}

// daemonDir makes one of a daemon's directories.
func (n *Node) daemonDir(dir DaemonDir) error {
	uid, gid, err := lookupOwner(dir.Owner)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir.Path, err)
	}
	p, err := n.FilePath(dir.Path)
	if err != nil {
		return n.local(err)
	}
	err = os.MkdirAll(p, 0o755)
	if err == nil {
		err = os.Chmod(p, cmpMode(dir.Perm, 0o755))
	}
	if err == nil {
		err = os.Chown(p, uid, gid)
	}
	if err != nil {
		return fmt.Errorf("directory %s: %w%s", dir.Path, unwrapPath(err), ownerHint(err, dir.Owner))
	}
	return nil
}

// ownerHint explains a chown refused in a user namespace that has no ID
// for the owner.
func ownerHint(err error, owner string) string {
	if owner != "" && errors.Is(err, syscall.EINVAL) && Rootless() {
		return " (owner " + owner + " has no ID in this rootless user namespace)"
	}
	return ""
}

// local drops the "nettest: node NAME: " that a Node method puts before its
// errors, for a caller that names the node itself.
func (n *Node) local(err error) error {
	if s, ok := strings.CutPrefix(err.Error(), n.where()+": "); ok {
		return errors.New(s)
	}
	return err
}

// writeDaemonFile renders f's template with facts into the node's file.
func (n *Node) writeDaemonFile(f DaemonFile, facts NodeFacts) error {
	text := f.Text
	if strings.Contains(text, "{{") {
		tmpl, err := template.New(f.Path).Option("missingkey=error").Parse(text)
		if err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		var b strings.Builder
		if err := tmpl.Execute(&b, facts); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		text = b.String()
	}
	uid, gid, err := lookupOwner(f.Owner)
	if err != nil {
		return fmt.Errorf("file %s: %w", f.Path, err)
	}
	if err := n.WriteFile(f.Path, []byte(text), cmpMode(f.Perm, 0o644)); err != nil {
		return n.local(err)
	}
	p, err := n.FilePath(f.Path)
	if err != nil {
		return n.local(err)
	}
	if err := os.Lchown(p, uid, gid); err != nil {
		return fmt.Errorf("file %s: %w%s", f.Path, unwrapPath(err), ownerHint(err, f.Owner))
	}
	return nil
}

func cmpMode(m, def fs.FileMode) fs.FileMode {
	if m == 0 {
		return def
	}
	return m
}

// lookupOwner resolves "user[:group]" (names or numbers) on the host, whose
// /etc/passwd and /etc/group the node's programs see; "" is root. A
// user without a group gets the user's own group.
func lookupOwner(owner string) (uid, gid int, err error) {
	if owner == "" {
		return 0, 0, nil
	}
	name, group, hasGroup := strings.Cut(owner, ":")
	u, err := user.Lookup(name)
	if err != nil {
		if u, err = user.LookupId(name); err != nil {
			return 0, 0, fmt.Errorf("owner %s: no user %q on this machine", owner, name)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if hasGroup {
		g, err := user.LookupGroup(group)
		if err != nil {
			if g, err = user.LookupGroupId(group); err != nil {
				return 0, 0, fmt.Errorf("owner %s: no group %q on this machine", owner, group)
			}
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}

// run runs args in the node and returns its output, stdout and stderr
// together; ctx ending stops it.
func (d *Daemon) run(ctx context.Context, args []string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("no command")
	}
	c := d.node.Command(args[0], args[1:]...)
	var out syncBuilder
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		return "", err
	}
	stop := context.AfterFunc(ctx, func() { c.Stop(100 * time.Millisecond) })
	err := exitReason(c.Wait())
	if !stop() { // ctx ended it
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return out.String(), err
}

// poll runs args in the node until it exits 0; it fails when ctx ends or
// one of the daemon's processes ends first.
func (d *Daemon) poll(ctx context.Context, args []string) error {
	pause := 20 * time.Millisecond
	for {
		out, err := d.run(ctx, args)
		if err == nil {
			return nil
		}
		for i, c := range d.Procs() {
			if c.Exited() {
				return fmt.Errorf("%s ended (%v); its last output: %s", d.names[i], exitReason(c.Wait()), c.log.lastLine())
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w; last answer: %v%s", strings.Join(args, " "), ctx.Err(), err, quoteOutput(out))
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 250*time.Millisecond)
	}
}

// exitReason drops the command line from a command's ExitError: the
// caller names the command.
func exitReason(err error) error {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// quoteOutput formats a command's output for an error.
func quoteOutput(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return ""
	}
	return ": " + strconv.Quote(out)
}

// Exec sends command to the daemon through its command-line interface (the
// spec's CLI, run in the node: vtysh -c for FRR, birdc for BIRD) and
// returns its answer. A command that fails returns an error with the
// answer.
func (d *Daemon) Exec(ctx context.Context, command string) (string, error) {
	if ctx == nil {
		return "", nilContext(d.String(), "Exec")
	}
	if len(d.spec.CLI) == 0 {
		return "", fmt.Errorf("%s: %s: the daemon has no command-line interface", d.node.where(), d.spec.Kind)
	}
	out, err := d.run(ctx, append(append([]string(nil), d.spec.CLI...), command))
	if err != nil {
		return out, fmt.Errorf("%s: %s: %q: %w%s", d.node.where(), d.spec.Kind, command, err, quoteOutput(out))
	}
	return out, nil
}

// Log returns what the daemon's processes have printed so far, each line
// prefixed with its process's name.
func (d *Daemon) Log() string {
	var b strings.Builder
	for i, c := range d.Procs() {
		for _, line := range strings.SplitAfter(c.Log(), "\n") {
			if line != "" {
				b.WriteString(d.names[i] + ": " + line)
			}
		}
	}
	return b.String()
}

// Stop ends the daemon's processes, the last started first: SIGTERM, then
// SIGKILL after the spec's Grace. A process that had ended on its own (it
// crashed) makes Stop return its error. Stop is safe to call again.
func (d *Daemon) Stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return d.stopErr
	}
	d.stopped = true
	procs := d.procs
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].Stop(d.spec.Grace); err != nil {
			errs = append(errs, err)
		}
	}
	d.stopErr = errors.Join(errs...)
	return d.stopErr
}
