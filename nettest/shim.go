package nettest

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

// A command started in a node runs under a shim: this very binary, run
// again, which nettest's package initialisation turns into the init process
// of the command's own PID namespace before anything else of the program
// runs. The shim
//
//   - joins the node's network namespace (its file descriptor is passed in);
//   - in the mount namespace it was cloned with, makes every mount private,
//     mounts /proc for its PID namespace and /sys for the node's network
//     namespace (so /sys/class/net lists the node's interfaces), and binds
//     the topology's hosts file over /etc/hosts and a resolv.conf that
//     sends no query out of the node over /etc/resolv.conf — the host's
//     /etc is not touched;
//   - sets the hostname (its own UTS namespace) to the node's name;
//   - starts the command, says so on the status pipe ("started PID", or
//     "noexec ERRNO" when the program cannot be run, or "error ..."), forwards SIGTERM, SIGINT, SIGHUP, SIGUSR1 and
//     SIGUSR2 to its process group, reaps every orphan, and exits when the
//     command does, passing on its wait status ("status N").
//
// When the shim dies, by any means, the kernel kills everything left in its
// PID namespace: grandchildren cannot outlive the command. The shim itself
// gets SIGKILL when the thread that started it dies (see spawner), which
// happens only when the test process dies.
const shimEnv = "_NETTEST_SHIM"

// shimConfig is what the parent tells the shim, as JSON in shimEnv.
type shimConfig struct {
	Path     string   `json:"path"`
	Args     []string `json:"args"`
	Dir      string   `json:"dir,omitempty"`
	Hostname string   `json:"hostname"`
	// Program, when set, names the registered Go program the command (this
	// binary again) is to run (see RegisterProgram).
	Program string `json:"program,omitempty"`
	// File descriptors in the shim: the node's network namespace, and the
	// pipe on which the shim reports the command's wait status.
	NetNSFD  int `json:"netns_fd"`
	StatusFD int `json:"status_fd"`
	// HostsFD is the topology's hosts file (a memfd), bound over /etc/hosts.
	HostsFD int `json:"hosts_fd"`
	// GoFD, when not 0, is a pipe on which a detached command's parent
	// says "go" once it has recorded the shim; end of file instead means the
	// parent died first, and the shim exits without starting the command.
	GoFD int `json:"go_fd,omitempty"`
}

func init() {
	if cfg, ok := os.LookupEnv(shimEnv); ok {
		// Package initialisation runs on the main thread, locked to it.
		os.Unsetenv(shimEnv)
		os.Exit(shimMain(cfg))
	}
}

// shimMain runs the shim and returns its exit code. Problems are reported on
// stderr as "nettest shim: ..." with exit code 127, as a shell does for a
// command it cannot start.
func shimMain(raw string) int {
	runtime.LockOSThread()
	var cfg shimConfig
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "nettest shim: "+format+"\n", args...)
		return 127
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return fail("bad configuration: %v", err)
	}
	// Neither the status pipe nor the hosts file reaches the command.
	unix.CloseOnExec(cfg.StatusFD)
	unix.CloseOnExec(cfg.HostsFD)
	status := os.NewFile(uintptr(cfg.StatusFD), "status")
	fail = func(format string, args ...any) int {
		msg := fmt.Sprintf(format, args...)
		fmt.Fprintf(status, "error %s\n", msg)
		fmt.Fprintf(os.Stderr, "nettest shim: %s\n", msg)
		return 127
	}
	if err := netns.Set(netns.NsHandle(cfg.NetNSFD)); err != nil {
		return fail("joining the node's network namespace: %v", err)
	}
	unix.Close(cfg.NetNSFD)
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail("making mounts private: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fail("mounting /proc: %v", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil {
		return fail("mounting /sys: %v", err)
	}
	hosts, err := io.ReadAll(os.NewFile(uintptr(cfg.HostsFD), "hosts"))
	if err != nil {
		return fail("reading the topology's hosts file: %v", err)
	}
	if err := bindHosts(hosts); err != nil {
		return fail("%v", err)
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fail("setting the hostname: %v", err)
	}
	// Every signal that reaches the shim is for the command. (Not all 64:
	// asking the Go runtime for every signal costs milliseconds, and SIGURG
	// is its own, SIGCHLD and SIGPIPE the shim's.)
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, forwarded...)

	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, shimEnv+"=") })
	if cfg.Program != "" {
		env = append(env, programEnv+"="+cfg.Program)
	}
	if cfg.GoFD != 0 {
		unix.CloseOnExec(cfg.GoFD)
		word := make([]byte, 3)
		if n, _ := io.ReadFull(os.NewFile(uintptr(cfg.GoFD), "go"), word); n != 3 || string(word) != "go\n" {
			return fail("not started: the process that started it ended before it could record it")
		}
	}
	attr := &os.ProcAttr{
		Dir:   cfg.Dir,
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &unix.SysProcAttr{Setpgid: true},
	}
	if cfg.Dir != "" {
		// Checked here: os.StartProcess reports a missing working
		// directory as if the program were missing.
		if _, err := os.Stat(cfg.Dir); err != nil {
			return fail("working directory: %v", err)
		}
	}
	child, err := os.StartProcess(cfg.Path, cfg.Args, attr)
	if err != nil {
		// "noexec ERRNO": the parent names the program and the node.
		var errno unix.Errno
		if errors.As(err, &errno) {
			fmt.Fprintf(status, "noexec %d\n", int(errno))
			fmt.Fprintf(os.Stderr, "nettest shim: %s: %v\n", cfg.Path, errno)
			return 127
		}
		return fail("%s: %v", cfg.Path, err)
	}
	// The parent's Start returns on this line: from now on its signals are
	// forwarded.
	fmt.Fprintf(status, "started %d\n", child.Pid)
	go func() {
		for sig := range sigc {
			unix.Kill(-child.Pid, sig.(unix.Signal))
		}
	}()
	// As PID 1, reap every process that ends here; stop when the command does.
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fail("waiting for %s: %v", cfg.Path, err)
		}
		if pid != child.Pid {
			continue
		}
		fmt.Fprintf(status, "status %d\n", uint32(ws))
		status.Close()
		switch {
		case ws.Exited():
			return ws.ExitStatus()
		case ws.Signaled():
			return 128 + int(ws.Signal())
		}
		return 127
	}
}

// resolvConf is what a command sees as /etc/resolv.conf: names come from
// /etc/hosts, and a query that gets past it goes to the node's own loopback
// (nobody answers there, at once) rather than to the host's servers, which
// are not in the topology.
const resolvConf = "# nettest: the topology's names are in /etc/hosts\nnameserver 127.0.0.1\n"

// forwarded are the signals the shim passes on to the command's process
// group; SIGKILL and SIGSTOP cannot be caught (Cmd.Signal sends those
// itself).
var forwarded = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGTERM,
	unix.SIGALRM, unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
	unix.SIGXCPU, unix.SIGXFSZ, unix.SIGVTALRM, unix.SIGPROF, unix.SIGPWR, unix.SIGSYS,
}

// bindHosts puts the topology's hosts file over /etc/hosts, and resolvConf
// over /etc/resolv.conf, in the calling thread's own (private) mount
// namespace, without writing to any disk: it mounts a small tmpfs over /tmp
// for a moment, writes the files there, binds them and detaches the tmpfs
// again, which the bind mounts keep alive.
func bindHosts(hosts []byte) error {
	const dir = "/tmp"
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4m,mode=0755"); err != nil {
		return fmt.Errorf("mounting a tmpfs for the hosts file: %w", err)
	}
	var err error
	for _, f := range []struct {
		name, over string
		data       []byte
	}{{"hosts", "/etc/hosts", hosts}, {"resolv.conf", "/etc/resolv.conf", []byte(resolvConf)}} {
		file := dir + "/" + f.name
		if err = os.WriteFile(file, f.data, 0o644); err == nil {
			err = unix.Mount(file, f.over, "", unix.MS_BIND, "")
		}
		if err != nil {
			err = fmt.Errorf("binding the topology's %s over %s: %w", f.name, f.over, err)
			break
		}
	}
	if uerr := unix.Unmount(dir, unix.MNT_DETACH); err == nil && uerr != nil {
		err = uerr
	}
	return err
}
