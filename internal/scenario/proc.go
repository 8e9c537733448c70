package scenario

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// EchoProgram is the registered program that runs an echo process: the
// binary that imports this package, run again inside the node.
const EchoProgram = "nettest-run-echo"

func init() { nettest.RegisterProgram(EchoProgram, echoMain) }

// echoMain serves "tcp PORT" or "udp PORT" on every address of the node.
func echoMain(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: %s tcp|udp PORT", EchoProgram)
	}
	addr := net.JoinHostPort("::", args[1])
	if args[0] == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		fmt.Printf("echo: listening on udp %s\n", c.LocalAddr())
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			c.WriteTo(buf[:n], from)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("echo: listening on tcp %s\n", ln.Addr())
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer conn.Close()
			io.Copy(conn, conn)
		}()
	}
}

// proc is a running process instance.
type proc struct {
	in      *Instance
	cmd     *nettest.Cmd
	dir     string
	out     *os.File // output.log of a detached process
	stopped bool     // by a stop step
}

const (
	defaultReady = 10 * time.Second
	stopGrace    = 5 * time.Second
)

// expand replaces the built-in variables of a process instance.
func (r *Run) expand(in *Instance, dir, s string) string {
	return strings.NewReplacer("${NODE}", in.Node, "${INDEX}", strconv.Itoa(in.Index), "${FILES}", dir, "${NAME}", r.S.Name).Replace(s)
}

// startProc writes an instance's files, starts it and waits until it is ready.
func (r *Run) startProc(ctx context.Context, in *Instance) error {
	if p := r.procs[in.Name]; p != nil && !p.cmd.Exited() {
		return fmt.Errorf("process %s: already running", in.Name)
	}
	node, err := r.Network.Node(in.Node)
	if err != nil {
		return err
	}
	dir := filepath.Join(r.filesIn, in.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("process %s: %w", in.Name, err)
	}
	for name, content := range in.Spec.Files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(r.expand(in, dir, content)), 0o644); err != nil {
			return fmt.Errorf("process %s: %w", in.Name, err)
		}
	}
	var cmd *nettest.Cmd
	if e := in.Spec.Echo; e != nil {
		cmd = node.ProgramCommand(EchoProgram, cmp.Or(e.Proto.V, "tcp"), strconv.Itoa(e.Port))
	} else {
		args := make([]string, len(in.Spec.Command.Args))
		for i, a := range in.Spec.Command.Args {
			args[i] = r.expand(in, dir, a)
		}
		cmd = node.Command(args[0], args[1:]...)
		cmd.Env = os.Environ()
		for k, v := range in.Spec.Env {
			cmd.Env = append(cmd.Env, k+"="+r.expand(in, dir, v))
		}
	}
	cmd.Dir = dir
	p := &proc{in: in, cmd: cmd, dir: dir}
	if r.opts.Detach {
		f, err := os.OpenFile(filepath.Join(dir, "output.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("process %s: %w", in.Name, err)
		}
		cmd.Stdout, cmd.Stderr, cmd.Detach, p.out = f, f, true, f
		if r.opts.Adopt != nil {
			cmd.Adopt = func(pid int) error {
				return r.opts.Adopt(Started{Name: in.Name, Node: in.Node, PID: pid, Command: cmd.String(), Dir: dir})
			}
		}
	}
	if err := cmd.Start(); err != nil {
		if p.out != nil {
			p.out.Close()
		}
		return fmt.Errorf("process %s: %w", in.Name, err)
	}
	if p.out != nil {
		p.out.Close() // the process has its own copy
	}
	r.procs[in.Name] = p
	if err := r.waitReady(ctx, p); err != nil {
		return fmt.Errorf("process %s: not ready: %w%s", in.Name, err, p.tail())
	}
	return nil
}

// waitReady waits as the process's ready key says.
func (r *Run) waitReady(ctx context.Context, p *proc) error {
	rd := p.in.Spec.Ready
	within := defaultReady
	if rd != nil && rd.Within.D > 0 {
		within = rd.Within.D
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if p.in.Spec.Echo != nil {
		return p.waitLog(ctx, regexp.MustCompile(`^echo: listening`))
	}
	if rd == nil {
		return nil
	}
	if rd.TCP.V != "" {
		addr, _ := TCPAddr(r.expand(p.in, p.dir, rd.TCP.V))
		if err := p.cmd.WaitTCP(ctx, addr); err != nil {
			return err
		}
	}
	if rd.File.V != "" {
		if err := p.cmd.WaitFile(ctx, r.expand(p.in, p.dir, rd.File.V)); err != nil {
			return err
		}
	}
	if rd.Log.V != "" {
		if err := p.waitLog(ctx, regexp.MustCompile(r.expand(p.in, p.dir, rd.Log.V))); err != nil {
			return err
		}
	}
	return nil
}

// waitLog waits for a line of output matching re: in the command's log, or
// for a detached process, in its output.log.
func (p *proc) waitLog(ctx context.Context, re *regexp.Regexp) error {
	if p.out == nil {
		return p.cmd.WaitLog(ctx, re)
	}
	path := filepath.Join(p.dir, "output.log")
	for {
		data, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(data), "\n") {
			if re.MatchString(line) {
				return nil
			}
		}
		if p.cmd.Exited() {
			return fmt.Errorf("%s: no output line matched %q before the command ended", p.cmd, re)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no output line matched %q: %w", p.cmd, re, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the process; an error says how it failed, if it did. When ctx
// ends first, it kills the process at once rather than wait out its grace
// (and the error then says it was killed).
func (p *proc) stop(ctx context.Context) error {
	defer context.AfterFunc(ctx, func() { p.cmd.Signal(syscall.SIGKILL) })()
	err := p.cmd.Stop(stopGrace)
	var ee *nettest.ExitError
	if errors.As(err, &ee) && p.in.Spec.Echo != nil {
		return nil // the echo server dies by signal; that is its end
	}
	return err
}

// tail returns the last lines of the process's output, each on a line of
// its own, indented; "" when it printed nothing.
func (p *proc) tail() string {
	text := p.cmd.Log()
	if p.out != nil {
		data, _ := os.ReadFile(filepath.Join(p.dir, "output.log"))
		text = string(data)
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\n    " + strings.Join(lines, "\n    ")
}
