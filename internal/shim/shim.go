package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Env is the environment variable that makes a re-executed binary the
// shim: it holds the [Config] as JSON.
const Env = "_NETTEST_SHIM"

// Config is what the parent tells the shim, as JSON in [Env].
type Config struct {
	Path     string   `json:"path"`
	Args     []string `json:"args"`
	Dir      string   `json:"dir,omitempty"`
	Hostname string   `json:"hostname"`
	// ExtraEnv is added to the command's environment, not the shim's: a
	// registered Go program's name, which would otherwise turn the shim
	// itself into the program.
	ExtraEnv []string `json:"extra_env,omitempty"`
	// File descriptors in the shim: the node's network namespace, and the
	// pipe on which the shim reports the command's wait status.
	NetNSFD  int `json:"netns_fd"`
	StatusFD int `json:"status_fd"`
	// FilesFD is the node's files directory (see [MakeFilesDir]), opened
	// O_PATH; Overlay says whether its etc/ goes over the host's /etc as an
	// overlay (see [MountFiles]).
	FilesFD int  `json:"files_fd"`
	Overlay bool `json:"overlay,omitempty"`
	// FilesPath, when set, is the node's files directory as a path, used
	// instead of FilesFD: a folder of the parent's mount namespace, which
	// a descriptor opened there cannot bind from the shim's.
	FilesPath string `json:"files_path,omitempty"`
	// Keep are the host's directories that stay reachable in the node at
	// their paths, though in one of its own (see [MountFiles]).
	Keep []string `json:"keep,omitempty"`
	// GoFD, when not 0, is a pipe on which a detached command's parent
	// says "go" once it has recorded the shim; end of file instead means the
	// parent died first, and the shim exits without starting the command.
	GoFD int `json:"go_fd,omitempty"`
}

// Main runs the shim with the configuration raw (the value of [Env]) and
// returns its exit code: the command's, 128 plus the signal that ended
// it, or 127 when the command could not be started. Problems are reported
// on stderr as "nettest shim: ..." and on the status pipe. It must run on
// the main thread, from package initialisation, before any goroutine of
// the program: it locks the thread and changes its namespaces.
func Main(raw string) int {
	runtime.LockOSThread()
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "nettest shim: bad configuration: %v\n", err)
		return 127
	}
	// Neither the status pipe nor the node's files directory reaches the
	// command.
	unix.CloseOnExec(cfg.StatusFD)
	unix.CloseOnExec(cfg.FilesFD)
	s := &shim{cfg: cfg, status: os.NewFile(uintptr(cfg.StatusFD), "status")}
	if err := s.enterNode(); err != nil {
		return s.fail("%v", err)
	}
	// Every signal that reaches the shim is for the command. (Not all 64:
	// asking the Go runtime for every signal costs milliseconds, and SIGURG
	// is its own, SIGCHLD and SIGPIPE the shim's.)
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, forwarded...)
	if err := s.waitForGo(); err != nil {
		return s.fail("%v", err)
	}
	child, code := s.startCommand()
	if child == nil {
		return code
	}
	// The parent's Start returns on this line: from now on its signals are
	// forwarded.
	fmt.Fprintf(s.status, "started %d\n", child.Pid)
	go func() {
		for sig := range sigc {
			unix.Kill(-child.Pid, sig.(unix.Signal))
		}
	}()
	return s.reap(child.Pid)
}

// shim is the running shim: its configuration and status pipe.
type shim struct {
	cfg    Config
	status *os.File
}

// fail reports a problem on the status pipe and stderr, and returns 127,
// as a shell does for a command it cannot start.
func (s *shim) fail(format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(s.status, "error %s\n", msg)
	fmt.Fprintf(os.Stderr, "nettest shim: %s\n", msg)
	return 127
}

// enterNode makes the calling thread's namespaces the node's: its network
// namespace, private mounts with /proc, /sys and the node's own files
// (/etc, /run, /tmp, ...), and the node's name as hostname.
func (s *shim) enterNode() error {
	cfg := s.cfg
	if err := netns.Set(netns.NsHandle(cfg.NetNSFD)); err != nil {
		return fmt.Errorf("joining the node's network namespace: %v", err)
	}
	unix.Close(cfg.NetNSFD)
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %v", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mounting /sys: %v", err)
	}
	files := cfg.FilesPath
	if files == "" {
		files = fmt.Sprintf("/proc/self/fd/%d", cfg.FilesFD)
	}
	if err := MountFiles(files, cfg.Overlay, cfg.Keep); err != nil {
		return err
	}
	unix.Close(cfg.FilesFD)
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fmt.Errorf("setting the hostname: %v", err)
	}
	return nil
}

// waitForGo waits, for a detached command, for the parent's word that it
// recorded the shim.
func (s *shim) waitForGo() error {
	if s.cfg.GoFD == 0 {
		return nil
	}
	unix.CloseOnExec(s.cfg.GoFD)
	word := make([]byte, 3)
	if n, _ := io.ReadFull(os.NewFile(uintptr(s.cfg.GoFD), "go"), word); n != 3 || string(word) != "go\n" {
		return errors.New("not started: the process that started it ended before it could record it")
	}
	return nil
}

// startCommand starts the command in a process group of its own; on
// failure it returns nil and the shim's exit code.
func (s *shim) startCommand() (*os.Process, int) {
	cfg := s.cfg
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, Env+"=") })
	attr := &os.ProcAttr{
		Dir:   cfg.Dir,
		Env:   append(env, cfg.ExtraEnv...),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &unix.SysProcAttr{Setpgid: true},
	}
	if cfg.Dir != "" {
		// Checked here: os.StartProcess reports a missing working
		// directory as if the program were missing.
		if _, err := os.Stat(cfg.Dir); err != nil {
			return nil, s.fail("working directory: %v", err)
		}
	}
	path := cfg.Path
	if self, err := os.Executable(); err == nil && self == cfg.Path {
		// The shim's own binary (a program registered with nettest, run
		// again): /proc/self/exe finds it even where the node's own /tmp
		// hides the path it was started from.
		path = "/proc/self/exe"
	}
	child, err := os.StartProcess(path, cfg.Args, attr)
	if err != nil {
		// "noexec ERRNO": the parent names the program and the node.
		var errno unix.Errno
		if errors.As(err, &errno) {
			fmt.Fprintf(s.status, "noexec %d\n", int(errno))
			fmt.Fprintf(os.Stderr, "nettest shim: %s: %v\n", cfg.Path, errno)
			return nil, 127
		}
		return nil, s.fail("%s: %v", cfg.Path, err)
	}
	return child, 0
}

// reap, as PID 1, reaps every process that ends here; it stops when the
// command does, reports its wait status and returns the exit code that
// passes it on.
func (s *shim) reap(pid int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return s.fail("waiting for %s: %v", s.cfg.Path, err)
		}
		if got != pid {
			continue
		}
		fmt.Fprintf(s.status, "status %d\n", uint32(ws))
		s.status.Close()
		switch {
		case ws.Exited():
			return ws.ExitStatus()
		case ws.Signaled():
			return 128 + int(ws.Signal())
		}
		return 127
	}
}

// resolvConf is what a node's /etc/resolv.conf starts as: names come from
// /etc/hosts, and a query that gets past it goes to the node's own loopback
// (nobody answers there, at once) rather than to the host's servers, which
// are not in the topology.
const resolvConf = "# nettest: the topology's names are in /etc/hosts\nnameserver 127.0.0.1\n"

// forwarded are the signals the shim passes on to the command's process
// group; SIGKILL and SIGSTOP cannot be caught (the parent sends those
// itself).
var forwarded = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGTERM,
	unix.SIGALRM, unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
	unix.SIGXCPU, unix.SIGXFSZ, unix.SIGVTALRM, unix.SIGPROF, unix.SIGPWR, unix.SIGSYS,
}
