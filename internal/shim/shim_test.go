package shim_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/shim"
	"github.com/nettestlab/nettest/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Private()
	os.Exit(m.Run())
}

func TestParseStarted(t *testing.T) {
	for _, tc := range []struct {
		line    string
		started bool
		errno   unix.Errno
		msg     string
	}{
		{"started 42\n", true, 0, ""},
		{"noexec 2\n", false, unix.ENOENT, ""},
		{"error working directory: stat /nope: no such file or directory\n", false, 0, "working directory: stat /nope: no such file or directory"},
		{"", false, 0, ""}, // the shim died first
		{"noexec x\n", false, 0, ""},
	} {
		started, errno, msg := shim.ParseStarted(tc.line)
		if started != tc.started || errno != tc.errno || msg != tc.msg {
			t.Errorf("ParseStarted(%q) = %v, %v, %q; want %v, %v, %q", tc.line, started, errno, msg, tc.started, tc.errno, tc.msg)
		}
	}
}

func TestExitStatus(t *testing.T) {
	exit3 := unix.WaitStatus(3 << 8)
	ws, seen, ok := shim.ExitStatus("status 768\n")
	if !seen || !ok || ws != exit3 || ws.ExitStatus() != 3 {
		t.Errorf("status 768: got %v (exit %d), seen %v, ok %v", ws, ws.ExitStatus(), seen, ok)
	}
	if _, seen, _ := shim.ExitStatus("error waiting for x: EINTR\n"); seen {
		t.Error("no status line: seen")
	}
	if _, seen, ok := shim.ExitStatus("status x\n"); !seen || ok {
		t.Errorf("a bad status line: seen %v, ok %v; want seen, not ok", seen, ok)
	}
}

// TestMakeFilesDir: a node's files directory has the node's root layout
// with the modes of a real system (/tmp and /var/tmp 1777), its hostname,
// resolv.conf and the topology's hosts file; the hosts file follows the
// topology until the test writes its own.
func TestMakeFilesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r1")
	hosts := "127.0.0.1\tlocalhost\n" + shim.HostsMark + "x\n10.0.0.1\tr1\n"
	if err := shim.MakeFilesDir(dir, "r1", hosts); err != nil {
		t.Fatal(err)
	}
	for _, p := range shim.Private {
		fi, err := os.Stat(filepath.Join(dir, p.Path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&(fs.ModePerm|fs.ModeSticky) != p.Mode {
			t.Errorf("%s: mode %v, want %v", p.Path, fi.Mode(), p.Mode)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "tmp")); fi.Mode()&fs.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp: mode %v, want 1777", fi.Mode())
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, "etc", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if read("hostname") != "r1\n" || read("hosts") != hosts || !strings.Contains(read("resolv.conf"), "nameserver 127.0.0.1") {
		t.Errorf("etc: hostname %q, hosts %q, resolv.conf %q", read("hostname"), read("hosts"), read("resolv.conf"))
	}
	newer := hosts + "10.0.0.2\tr2\n"
	if err := shim.MakeFilesDir(dir, "r1", newer); err != nil || read("hosts") != newer {
		t.Errorf("hosts not following the topology: %q, %v", read("hosts"), err)
	}
	own := "10.9.9.9\tmine\n"
	os.WriteFile(filepath.Join(dir, "etc", "hosts"), []byte(own), 0o644)
	if err := shim.MakeFilesDir(dir, "r1", hosts); err != nil || read("hosts") != own {
		t.Errorf("the test's own hosts file replaced: %q, %v", read("hosts"), err)
	}
}

// TestPrepare: the shim gets its configuration in its environment with
// the descriptors numbered as they are passed, new PID, mount and UTS
// namespaces, and a parent-death signal unless detached.
func TestPrepare(t *testing.T) {
	ns, err := os.Open("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	hosts, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer hosts.Close()
	for _, detach := range []bool{false, true} {
		l, err := shim.Prepare(shim.Request{
			Self: "/proc/self/exe", Name: "nettest-shim:a", Env: []string{"A=1"},
			NetNS: int(ns.Fd()), Files: hosts, Detach: detach,
			Config: shim.Config{Path: "/bin/true", Args: []string{"true"}, Hostname: "a", ExtraEnv: []string{"B=2"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		cmd := l.Cmd
		if cmd.Args[0] != "nettest-shim:a" || cmd.Env[0] != "A=1" {
			t.Errorf("detach %v: args %q, env %q", detach, cmd.Args, cmd.Env)
		}
		i := slices.IndexFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, shim.Env+"=") })
		if i < 0 {
			t.Fatalf("detach %v: no %s in the shim's environment %q", detach, shim.Env, cmd.Env)
		}
		var cfg shim.Config
		if err := json.Unmarshal([]byte(strings.TrimPrefix(cmd.Env[i], shim.Env+"=")), &cfg); err != nil {
			t.Fatal(err)
		}
		files := 3
		if detach {
			files = 4
			if cfg.GoFD != 6 {
				t.Errorf("detached: go pipe at %d, want 6", cfg.GoFD)
			}
		}
		if cfg.NetNSFD != 3 || cfg.StatusFD != 4 || cfg.FilesFD != 5 || len(cmd.ExtraFiles) != files || cmd.ExtraFiles[2] != hosts {
			t.Errorf("detach %v: descriptors %+v, %d extra files; want 3, 4, 5 and %d", detach, cfg, len(cmd.ExtraFiles), files)
		}
		if cfg.Path != "/bin/true" || cfg.Hostname != "a" || !slices.Equal(cfg.ExtraEnv, []string{"B=2"}) {
			t.Errorf("detach %v: configuration %+v", detach, cfg)
		}
		attr := cmd.SysProcAttr
		if attr.Cloneflags != unix.CLONE_NEWPID|unix.CLONE_NEWNS|unix.CLONE_NEWUTS {
			t.Errorf("detach %v: clone flags %#x", detach, attr.Cloneflags)
		}
		if detach != (attr.Pdeathsig == 0) || detach != attr.Setsid || detach == attr.Setpgid {
			t.Errorf("detach %v: Pdeathsig %v, Setsid %v, Setpgid %v", detach, attr.Pdeathsig, attr.Setsid, attr.Setpgid)
		}
		if !detach && attr.Pdeathsig != syscall.SIGKILL {
			t.Errorf("parent-death signal %v, want SIGKILL", attr.Pdeathsig)
		}
		l.Status.Close()
		for _, f := range cmd.ExtraFiles {
			if f != hosts {
				f.Close()
			}
		}
	}
}

// TestSpawn: commands start from the spawner's one thread, one after the
// other.
func TestSpawn(t *testing.T) {
	for range 3 {
		cmd := exec.Command("/bin/true")
		if err := shim.Spawn(cmd); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := shim.Spawn(exec.Command("/nonexistent")); err == nil {
		t.Error("spawning a missing program: no error")
	}
}
