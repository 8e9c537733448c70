package nettest_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestNodeFiles: what a program of a node writes in /run, /var/tmp, /tmp,
// /etc and /var/log is seen by every other program of that node, by no
// program of another node and not on the host; the node's /etc is the
// host's with the node's hostname, hosts and resolv.conf over it; and after
// Close nothing is left.
func TestNodeFiles(t *testing.T) {
	requireTools(t, "sh", "cat", "stat")
	n := build(t, seedTopology())
	red, blue := node(t, n, "red"), node(t, n, "blue")
	// Names no one else on this machine writes.
	x := fmt.Sprintf("nettest-nodefiles-%d", os.Getpid())
	paths := []string{"/run/" + x, "/var/tmp/" + x, "/tmp/" + x, "/etc/" + x, "/var/log/" + x}

	write := "for f in " + strings.Join(paths, " ") + "; do echo $f > $f || exit 1; done"
	out, err := red.Command("sh", "-c", write).CombinedOutput()
	require.NoError(t, err, "%s", out)

	out, err = red.Command("cat", append(paths, "/var/run/"+x)...).CombinedOutput()
	require.NoError(t, err, "another program of red: %s", out)
	require.Equal(t, strings.Join(append(paths, "/run/"+x), "\n")+"\n", string(out))

	out, err = blue.Command("sh", "-c", "for f in "+strings.Join(paths, " ")+"; do test -e $f && echo $f; done; true").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, string(out), "blue sees red's files")
	for _, p := range paths {
		_, err := os.Stat(p)
		require.ErrorIs(t, err, fs.ErrNotExist, "the host has red's %s", p)
	}

	// The host's /etc below, the node's files above.
	out, err = red.Command("sh", "-c", "test -s /etc/passwd && cat /etc/hostname && grep -c 'red-veth-red' /etc/hosts && cat /etc/resolv.conf").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Regexp(t, `^red\n1\n(?s:.*)nameserver 127\.0\.0\.1\n$`, string(out))

	// The test's side: WriteFile, ReadFile, FilePath, MkdirAll.
	require.NoError(t, red.WriteFile("/etc/frr/frr.conf", []byte("hostname red\n"), 0o640))
	nobody := 65534
	if nettest.Rootless() {
		nobody = 0 // the only user of a user namespace of our own
	}
	require.NoError(t, red.MkdirAll("/var/run/frr", 0o750, nobody, nobody))
	out, err = red.Command("sh", "-c", "cat /etc/frr/frr.conf; stat -c '%a %u' /etc/frr/frr.conf /etc/frr /run/frr").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, fmt.Sprintf("hostname red\n640 0\n755 0\n750 %d\n", nobody), string(out))
	got, err := red.ReadFile("/var/run/" + x)
	require.NoError(t, err)
	require.Equal(t, "/run/"+x+"\n", string(got))
	got, err = red.ReadFile("/etc/passwd") // the host's
	require.NoError(t, err)
	host, _ := os.ReadFile("/etc/passwd")
	require.Equal(t, string(host), string(got))
	// blue sees the host's /etc/frr/frr.conf (frr installed), or none: never red's.
	got, err = blue.ReadFile("/etc/frr/frr.conf")
	switch hostConf, herr := os.ReadFile("/etc/frr/frr.conf"); {
	case herr == nil:
		require.NoError(t, err)
		require.Equal(t, string(hostConf), string(got), "blue sees the host's file, not red's")
	case errors.Is(herr, fs.ErrNotExist):
		require.ErrorIs(t, err, fs.ErrNotExist)
	default: // the host's file, which this user cannot read there either (rootless)
		require.ErrorIs(t, err, fs.ErrPermission)
	}
	_, err = blue.ReadFile("/etc/" + x + "/frr.conf")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, "node blue: reading /etc/"+x+"/frr.conf: no such file or directory")
	_, err = red.ReadFile("/usr/lib/x")
	require.ErrorContains(t, err, "node red: file /usr/lib/x: not one of the node's own files")
	_, err = os.Stat("/etc/frr/frr.conf")
	if err == nil {
		t.Log("(the host has an /etc/frr/frr.conf of its own)")
	}

	// nettest's state directory (a lab's process folders) and a command's
	// working directory stay the host's.
	keep := filepath.Join(nettest.StateDir, "nodefiles-test-"+x)
	require.NoError(t, os.MkdirAll(keep, 0o755))
	defer os.RemoveAll(keep)
	require.NoError(t, os.WriteFile(filepath.Join(keep, "note"), []byte("host\n"), 0o644))
	cat := red.Command("cat", "note")
	cat.Dir = keep
	out, err = cat.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "host\n", string(out))

	// A daemon's pid file, seen by the test as the node sees it.
	d := red.Command("sh", "-c", "sleep 0.1; echo $$ > /run/d.pid; exec sleep 100")
	require.NoError(t, d.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, d.WaitFile(ctx, "/run/d.pid"))
	require.NoError(t, d.Stop(time.Second))

	dir, err := red.FilesDir()
	require.NoError(t, err)
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(dir, &st))
	require.NoError(t, n.Close())
	_, err = red.ReadFile("/run/" + x)
	require.ErrorIs(t, err, nettest.ErrClosed)
	// Nothing of the nodes' files is open in this process, nor in its
	// temporary folder.
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, e := range fds {
		var fst syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc/self/fd", e.Name()), &fst) == nil && fst.Dev == st.Dev {
			t.Errorf("after Close, descriptor %s is still on the nodes' files", e.Name())
		}
	}
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "nettest-files-*"))
	require.Empty(t, left)
}

// BenchmarkCommandRun: starting a program in a node and waiting for it,
// the node's own files mounted for it.
func BenchmarkCommandRun(b *testing.B) {
	n := build(b, seedTopology())
	red := node(b, n, "red")
	for b.Loop() {
		if out, err := red.Command("true").CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}

// execFilesHelper builds the seed topology, puts a file in red's /run and
// becomes, with Node.Exec, a shell in red that shows it.
func execFilesHelper() {
	n, err := nettest.Build(context.Background(), seedTopology())
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	red, _ := n.Node("red")
	if err := red.WriteFile("/run/exec-note", []byte("red's\n"), 0o644); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	script := "cat /run/exec-note; hostname; echo > /tmp/exec-" + os.Getenv("NETTEST_EXEC_MARKER") + "; test -s /etc/passwd && echo passwd"
	err = red.Exec("sh", []string{"sh", "-c", script}, os.Environ())
	fmt.Println("error:", err)
	os.Exit(1)
}

// TestExecSeesNodeFiles: a program that Node.Exec runs sees the node's own
// files, and what it writes in /tmp stays out of the host's.
func TestExecSeesNodeFiles(t *testing.T) {
	testenv.RequirePrivilege(t)
	requireTools(t, "sh", "cat", "hostname")
	marker := fmt.Sprintf("%d", os.Getpid())
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=execfiles", "NETTEST_EXEC_MARKER="+marker)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "red's\nred\npasswd\n", string(out))
	_, err = os.Stat("/tmp/exec-" + marker)
	require.ErrorIs(t, err, fs.ErrNotExist, "the host's /tmp has what the node wrote")
}
