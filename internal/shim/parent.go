package shim

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Request is what a parent starts a shim with.
type Request struct {
	// Self is this binary, which runs again as the shim; Name is the
	// shim's argv[0] ("nettest-shim:NODE"), which ps shows.
	Self, Name string
	// Env is the environment of the shim and so of the command.
	Env []string
	// Stdin, Stdout and Stderr are the command's, as in exec.Cmd.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// NetNS is a descriptor of the node's network namespace; the shim
	// gets a duplicate.
	NetNS int
	// Files is the node's files directory (see [MakeFilesDir]), opened
	// O_PATH; the caller closes it after [Launch.Spawn].
	Files *os.File
	// Config says what the shim runs; its descriptor numbers are set by
	// Prepare.
	Config Config
	// Detach lets the shim outlive this process: no parent-death signal,
	// a session of its own, and the command starts only after
	// [Launch.Release].
	Detach bool
}

// Launch is a shim made ready to start: its command, and this process's
// ends of its pipes.
type Launch struct {
	// Cmd is the shim's process.
	Cmd *exec.Cmd
	// Status is the read end of the status pipe (see [ParseStarted] and
	// [ExitStatus]); the caller closes it.
	Status *os.File
	// childEnds are the descriptors only the shim needs, closed here once
	// it runs; goW is the write end of a detached shim's go pipe.
	childEnds []*os.File
	goW       *os.File
}

// Prepare makes the shim's pipes and its exec.Cmd.
func Prepare(r Request) (*Launch, error) {
	l := &Launch{}
	fail := func(err error) (*Launch, error) {
		l.closeAll()
		return nil, err
	}
	status, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	l.Status, l.childEnds = status, append(l.childEnds, statusW)
	// A duplicate: an *os.File closes its descriptor when collected.
	dup, err := unix.FcntlInt(uintptr(r.NetNS), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return fail(err)
	}
	nsf := os.NewFile(uintptr(dup), "netns")
	l.childEnds = append(l.childEnds, nsf)
	cfg := r.Config
	cfg.NetNSFD, cfg.StatusFD, cfg.FilesFD = 3, 4, 5
	extra := []*os.File{nsf, statusW, r.Files}
	if r.Detach {
		// A detached shim waits for a word from this process before it
		// starts the command (see Release).
		goR, goW, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		l.childEnds, l.goW = append(l.childEnds, goR), goW
		cfg.GoFD, extra = 6, append(extra, goR)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fail(err)
	}
	l.Cmd = &exec.Cmd{
		Path:       r.Self,
		Args:       []string{r.Name},
		Env:        append(slices.Clone(r.Env), Env+"="+string(raw)),
		Stdin:      r.Stdin,
		Stdout:     r.Stdout,
		Stderr:     r.Stderr,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS,
			Setpgid:    true,
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	if r.Detach {
		l.Cmd.SysProcAttr.Setpgid, l.Cmd.SysProcAttr.Setsid, l.Cmd.SysProcAttr.Pdeathsig = false, true, 0
	}
	return l, nil
}

// Spawn starts the shim (see [Spawn]) and closes this process's copies of
// the shim's descriptors; if it fails, it closes every pipe.
func (l *Launch) Spawn() error {
	err := Spawn(l.Cmd)
	for _, f := range l.childEnds {
		f.Close()
	}
	l.childEnds = nil
	if err != nil {
		l.closeAll()
	}
	return err
}

// Release lets a detached shim start its command, once adopt (if not nil)
// accepted its PID; if adopt fails, or the word cannot be sent, it kills
// the shim, reaps it and closes the status pipe. It does nothing for a
// shim that is not detached.
func (l *Launch) Release(adopt func(pid int) error) error {
	if l.goW == nil {
		return nil
	}
	var err error
	if adopt != nil {
		err = adopt(l.Cmd.Process.Pid)
	}
	if err == nil {
		_, err = l.goW.Write([]byte("go\n"))
	}
	l.goW.Close()
	l.goW = nil
	if err != nil {
		l.Cmd.Process.Kill()
		l.Cmd.Wait()
		l.Status.Close()
	}
	return err
}

func (l *Launch) closeAll() {
	for _, f := range append(l.childEnds, l.Status, l.goW) {
		if f != nil {
			f.Close()
		}
	}
}

// ParseStarted reads the shim's first status line: "started PID" gives
// started; "noexec ERRNO" the errno of a program that could not be run;
// "error MSG" the shim's message. A shim that died first (an empty line)
// gives none of them.
func ParseStarted(line string) (started bool, errno unix.Errno, msg string) {
	word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch word {
	case "started":
		return true, 0, ""
	case "noexec":
		if n, err := strconv.Atoi(rest); err == nil {
			return false, unix.Errno(n), ""
		}
	case "error":
		return false, 0, rest
	}
	return false, 0, ""
}

// ExitStatus finds the command's wait status in what the shim wrote on
// the status pipe after its first line: seen is false when the shim
// reported none (it died before the command ended), ok false when the
// report does not parse.
func ExitStatus(rest string) (ws unix.WaitStatus, seen, ok bool) {
	var s string
	for _, line := range strings.Split(rest, "\n") {
		if v, found := strings.CutPrefix(line, "status "); found {
			s = v
		}
	}
	if s == "" {
		return 0, false, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return unix.WaitStatus(n), true, err == nil
}

// The spawner starts every shim, from one goroutine locked to its OS
// thread for the life of the process. A command's parent-death signal
// (PR_SET_PDEATHSIG) fires when the thread that forked it exits, not the
// process: forked from an ordinary goroutine's thread, a command could be
// killed whenever the Go runtime ended that thread. This thread never
// ends, so the signal fires only when the process dies.
var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// Spawn starts cmd on the spawner's thread.
func Spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread is the parent of every command
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnReq{cmd, done}
	return <-done
}
