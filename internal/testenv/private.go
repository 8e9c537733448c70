package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/fixtures"
	"github.com/nettestlab/nettest/nettest"
)

// PrivateEnv names the variable that marks a process as running on private
// state. [Private] sets it, in the test binary it re-executes, to that
// binary's mount namespace ("mnt:[INODE]"); processes started from there
// (helpers, the CLI under test, RunAsNobody) inherit it and stay in the
// same private state.
const PrivateEnv = "NETTEST_TEST_PRIVATE"

// PrivateDirs returns the directories each test binary gets an empty
// tmpfs over, in a mount namespace of its own: the named network
// namespaces, nettest-run's state, and the scratch directories nettest and
// the tests make in /tmp.
func PrivateDirs() []string { return []string{"/run/netns", "/run/nettest", "/tmp"} }

// pendingPrefix starts PrivateEnv's value in the re-executed binary until
// it has made its state private; the rest is the mount namespace of the
// process that re-executed it.
const pendingPrefix = "pending "

// Private is for TestMain, before anything else: it makes the test binary
// run on private state, so that tests of up, down, clean and persisted
// namespaces cannot see or remove a user's live labs (nor leave anything
// behind). When the process may make a mount namespace (root, or rootless
// in a user namespace of its own) and is not private yet, Private runs this
// binary again, with the same arguments, standard streams and environment,
// in a new mount namespace where every mount is private and an empty tmpfs
// covers each of [PrivateDirs]; it forwards SIGINT, SIGTERM, SIGHUP and
// SIGQUIT to it, and exits as it exits (the private binary dies with it).
// In the re-executed binary, and in a process that cannot make a mount
// namespace (which cannot touch /run/netns either), Private returns.
//
// The binary's own directory, the files go test asks it to write under
// /tmp (-test.testlogfile, coverage, profiles) and the NETTEST_ARTIFACTS
// folder stay reachable at their paths. TMPDIR is the private /tmp: a
// capture kept on failure without NETTEST_ARTIFACTS goes with it.
//
// A root process that cannot make a mount namespace says so on stderr,
// and exits 1 when NETTEST_REQUIRE_PRIVILEGE=1.
func Private() {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		// No /proc: such a process builds no topology either.
		return
	}
	v := os.Getenv(PrivateEnv)
	switch {
	case strings.HasPrefix(v, pendingPrefix):
		if parent := strings.TrimPrefix(v, pendingPrefix); parent == self {
			fmt.Fprintf(os.Stderr, "testenv: re-executed for private state but still in the mount namespace %s\n", self)
			os.Exit(1)
		}
		if err := makePrivate(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: making this test binary's state private: %v\n", err)
			os.Exit(1)
		}
		os.Setenv(PrivateEnv, self)
		return
	case v != "":
		// Started (directly or not) by a private test binary: in its
		// mount namespace, or in one made from it (a node's).
		return
	}
	code, err := runPrivate(self)
	if err != nil {
		if os.Geteuid() == 0 {
			fmt.Fprintf(os.Stderr, "testenv: cannot run this test binary in a mount namespace of its own (%v): its tests see the host's /run/netns, /run/nettest and /tmp\n", err)
			if os.Getenv(RequirePrivilegeEnv) == "1" {
				os.Exit(1)
			}
		}
		return
	}
	os.Exit(code)
}

// forwarded are the signals the parent passes on to the private binary.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// runPrivate runs this binary again in a new mount namespace and returns
// its exit code, or an error when it could not start it (no privilege).
// When the child dies of a signal that would have killed this process
// too, runPrivate dies of it as well.
func runPrivate(self string) (int, error) {
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = os.Args
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, PrivateEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, PrivateEnv+"="+pendingPrefix+self)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Unshareflags with CLONE_NEWNS also makes / MS_REC|MS_PRIVATE before
	// the exec, so that no mount propagates back to the host. The
	// parent-death signal follows the thread that starts the child: this
	// one stays locked, and the process exits from it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	sigs := make(chan os.Signal, 8)
	for _, sig := range forwarded {
		// A signal ignored here is ignored in the child too (exec keeps
		// it so): nothing to forward.
		if !signal.Ignored(sig) {
			signal.Notify(sigs, sig)
		}
	}
	if err := cmd.Start(); err != nil {
		signal.Stop(sigs)
		runtime.UnlockOSThread()
		return 0, err
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	cmd.Wait()
	close(done)
	signal.Stop(sigs)
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() {
		return ws.ExitStatus(), nil
	}
	sig := ws.Signal()
	switch sig {
	case syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGKILL:
		// Die of the same signal, as go test and shells expect.
		signal.Reset(sig)
		syscall.Kill(os.Getpid(), sig)
		time.Sleep(time.Second)
	}
	return 128 + int(sig), nil
}

// makePrivate runs in the re-executed binary, in its new mount namespace:
// it makes every mount private and mounts an empty tmpfs over each of
// PrivateDirs, keeping what go test gave the binary under /tmp.
func makePrivate() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making every mount private: %w", err)
	}
	keep, err := keptUnder("/tmp")
	if err != nil {
		return err
	}
	for _, dir := range PrivateDirs() {
		mode := "0755"
		if dir == "/tmp" {
			mode = "1777"
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			if nettest.Rootless() {
				// The host has no such directory, and a rootless
				// process cannot make one there either.
				continue
			}
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode="+mode); err != nil {
			return fmt.Errorf("mounting a tmpfs on %s: %w", dir, err)
		}
	}
	for _, k := range keep {
		if err := k.bind(); err != nil {
			return err
		}
		k.f.Close()
	}
	os.Setenv("TMPDIR", "/tmp")
	if d := os.Getenv("GOTMPDIR"); d != "" && under(d, "/tmp") {
		os.Unsetenv("GOTMPDIR")
	}
	return nil
}

// kept is a file or directory under /tmp that the private binary must
// still reach at its path: held open (O_PATH) before the tmpfs covers it,
// bind-mounted back after.
type kept struct {
	path string
	dir  bool
	f    *os.File
}

func (k kept) bind() error {
	if k.dir {
		if err := os.MkdirAll(k.path, 0o755); err != nil {
			return fmt.Errorf("keeping %s: %w", k.path, err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(k.path), 0o755); err != nil {
			return fmt.Errorf("keeping %s: %w", k.path, err)
		}
		f, err := os.OpenFile(k.path, os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return fmt.Errorf("keeping %s: %w", k.path, err)
		}
		f.Close()
	}
	src := fmt.Sprintf("/proc/self/fd/%d", k.f.Fd())
	if err := unix.Mount(src, k.path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("keeping %s: bind-mounting it: %w", k.path, err)
	}
	return nil
}

// Flags of go test binaries naming files they write, and directories they
// use; a relative file is in -test.outputdir.
var (
	outputFileFlags = []string{"cpuprofile", "memprofile", "blockprofile", "mutexprofile", "trace", "coverprofile", "testlogfile"}
	outputDirFlags  = []string{"outputdir", "gocoverdir", "fuzzcachedir"}
)

// keptUnder lists, and opens, what under top the binary needs after top is
// covered: the directory of the binary (go test's work directory holds the
// test log and coverage files there too), the files and directories named
// by -test.* flags (profiles, coverage) and GOCOVERDIR, and the folder
// NETTEST_ARTIFACTS names (made if missing). Top itself is
// never kept whole: for a file right in it (the binary, a profile), only
// the file is kept, made empty first if it is to be written.
func keptUnder(top string) ([]kept, error) {
	var cands []kept
	// add keeps path when it is a directory, or else its directory; a file
	// right in top is kept itself if it exists or create is set.
	add := func(path string, create bool) error {
		if !filepath.IsAbs(path) {
			return nil
		}
		path = filepath.Clean(path)
		if !under(path, top) || path == top {
			return nil
		}
		st, err := os.Stat(path)
		parent := filepath.Dir(path)
		switch {
		case err == nil && st.IsDir():
			cands = append(cands, kept{path: path, dir: true})
		case parent == top:
			if err != nil && create {
				f, cerr := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
				if cerr != nil {
					return fmt.Errorf("keeping %s: %w", path, cerr)
				}
				f.Close()
				err = nil
			}
			if err == nil {
				cands = append(cands, kept{path: path})
			}
		default:
			if st, err := os.Stat(parent); err == nil && st.IsDir() {
				cands = append(cands, kept{path: parent, dir: true})
			}
		}
		return nil
	}
	if exe, err := os.Readlink("/proc/self/exe"); err == nil {
		add(exe, false)
	}
	add(os.Args[0], false)
	flags := testFlags(os.Args[1:])
	for _, name := range outputDirFlags {
		add(flags[name], false)
	}
	for _, name := range outputFileFlags {
		path := flags[name]
		if path != "" && !filepath.IsAbs(path) && flags["outputdir"] != "" {
			path = filepath.Join(flags["outputdir"], path)
		}
		if err := add(path, true); err != nil {
			return nil, err
		}
	}
	add(os.Getenv("GOCOVERDIR"), false)
	// The folder the user asked to keep artifacts (captures, reports) in:
	// the tests would make it anyway.
	if dir := filepath.Clean(os.Getenv(fixtures.ArtifactsEnv)); filepath.IsAbs(dir) && under(dir, top) && dir != top {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("keeping %s=%s: %w", fixtures.ArtifactsEnv, dir, err)
		}
		add(dir, false)
	}

	// Shortest first: a path inside a kept directory needs nothing more.
	slices.SortFunc(cands, func(a, b kept) int { return len(a.path) - len(b.path) })
	var keep []kept
	for _, c := range cands {
		if slices.ContainsFunc(keep, func(k kept) bool { return k.dir && under(c.path, k.path) || k.path == c.path }) {
			continue
		}
		f, err := os.OpenFile(c.path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("keeping %s: %w", c.path, err)
		}
		c.f = f
		keep = append(keep, c)
	}
	return keep, nil
}

// testFlags returns the values of the -test.* flags among args (by name
// without "test."), given as -test.x=v or, for the flags naming files and
// directories, -test.x v; it stops at "--".
func testFlags(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		name, ok := strings.CutPrefix(name, "test.")
		if !ok {
			continue
		}
		if !hasVal && (slices.Contains(outputFileFlags, name) || slices.Contains(outputDirFlags, name)) && i+1 < len(args) {
			i++
			val = args[i]
		}
		out[name] = val
	}
	return out
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}
