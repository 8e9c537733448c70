package nettest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/shim"
)

// Attach reopens a topology that an earlier process built and persisted
// (see [Network.Persist]) under the name given: it opens the namespaces
// /run/netns/nettest-<name>.<node> of every node and LAN switch of t and
// creates nothing. t must be the topology as it was built (the same
// automatic addresses follow from it); each interface it names must exist.
//
// The Network it returns works as a built one does: Node, Report, Ping,
// Command, Link.SetDown and SetUp act on the persisted namespaces. Its
// Close releases this process's hold on them and leaves them persisted;
// [RemovePersisted] removes them.
func Attach(t Topology, name string) (_ *Network, err error) {
	if err := checkName(name, 32); err != nil {
		return nil, fmt.Errorf("nettest: topology %w", err)
	}
	t.Name = name
	p, err := t.resolve()
	if err != nil {
		return nil, err
	}
	rec, err := readRecord(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("nettest: topology %s is not up: nettest has no record of persisting it (in %s)", name, recordDir)
	}
	if err != nil {
		return nil, err
	}
	n := newNetwork(p, name)
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
		}
	}()
	for _, node := range n.nodes {
		path := filepath.Join(NetnsDir, PersistedName(name, node.p.name))
		if node.ns, err = openNamespace(path); err != nil {
			return nil, fmt.Errorf("%s: %w", node.where(), err)
		}
		if err := rec.proves(node.p.name, node.ns); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", node.where(), path, err)
		}
		n.persisted = append(n.persisted, path)
		for _, in := range node.ifaces {
			l, err := node.ns.nl.LinkByName(in.p.name)
			if err != nil {
				return nil, fmt.Errorf("%s: interface %s: %w (is %s the namespace of this topology?)", node.where(), in.p.name, err, path)
			}
			in.idx.Store(int64(l.Attrs().Index))
			in.up.Store(l.Attrs().Flags&net.FlagUp != 0)
		}
	}
	return n, nil
}

// openNamespace opens a named namespace.
func openNamespace(path string) (*namespace, error) {
	fd, err := netns.GetFromPath(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist: the topology is not up", path)
		}
		return nil, privilegeError("opening "+path, err)
	}
	// Held by its descriptor (the one the record's identity was checked
	// on); its sockets are opened when used.
	ns := &namespace{held: fd, kept: -1}
	ns.nl.ns = ns
	return ns, nil
}

// Exec replaces this process with the program, run inside the node as
// `ip netns exec` runs one: in the node's network namespace, in a mount and
// UTS namespace of its own where /sys shows the node's interfaces, the
// node's own /etc, /run, /tmp, /var/tmp and /var/log are mounted (see
// [Node.FilePath]; the host's are not touched) and the hostname is the
// node's name. Unlike [Node.Command] there is no shim and no PID
// namespace: the program keeps this process's ID, terminal, process group
// and signals, which an interactive shell needs.
// A path without a slash is looked up in PATH. Exec returns only on error,
// and then this process is unchanged.
func (n *Node) Exec(path string, args, env []string) error {
	if filepath.Base(path) == path {
		lp, err := exec.LookPath(path)
		if err != nil {
			return fmt.Errorf("%s: %w", n.where(), lookError(err))
		}
		path = lp
	}
	if !n.net.life.acquire() {
		return fmt.Errorf("%s: %w", n.where(), ErrClosed)
	}
	var dup int
	err := n.ns.withFD(func(fd netns.NsHandle) (err error) {
		dup, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
		return err
	})
	var files *os.File
	var filesPath string
	if err == nil {
		if files, filesPath, err = n.openFiles(); err != nil {
			unix.Close(dup)
		}
	}
	n.net.life.release()
	if err != nil {
		return fmt.Errorf("%s: %w", n.where(), err)
	}
	defer unix.Close(dup)
	defer files.Close()
	overlay := n.net.files.overlay
	done := make(chan error, 1)
	go func() {
		// Never unlocked: on success the process becomes the program; on
		// failure the thread may be half inside the node and dies with
		// this goroutine.
		runtime.LockOSThread()
		if filesPath == "" {
			filesPath = fmt.Sprintf("/proc/self/fd/%d", files.Fd())
		}
		done <- execInside(dup, filesPath, overlay, n.p.name, path, args, env)
	}()
	if err := <-done; err != nil {
		return fmt.Errorf("%s: %w", n.where(), err)
	}
	return nil
}

// execInside does Exec's work on a locked thread; it returns only on error.
func execInside(netnsFD int, files string, overlay bool, hostname, path string, args, env []string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_NEWUTS); err != nil {
		return privilegeError("creating a mount namespace", err)
	}
	if err := unix.Setns(netnsFD, unix.CLONE_NEWNET); err != nil {
		return privilegeError("entering the namespace", err)
	}
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mounting /sys: %w", err)
	}
	wd, _ := os.Getwd()
	if err := shim.MountFiles(files, overlay, keepDirs(wd)); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		return fmt.Errorf("setting the hostname: %w", err)
	}
	if err := unix.Exec(path, args, env); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// detachedOutput checks a detached command's streams: nil or files, which
// the command gets as they are.
func detachedOutput(c *Cmd) (stdout, stderr io.Writer, err error) {
	for _, s := range []any{c.Stdin, c.Stdout, c.Stderr} {
		switch s.(type) {
		case nil, *os.File:
		default:
			return nil, nil, fmt.Errorf("a detached command's Stdin, Stdout and Stderr must be nil or *os.File, not %T", s)
		}
	}
	if c.Stdout != nil {
		stdout = c.Stdout
	}
	if c.Stderr != nil {
		stderr = c.Stderr
	}
	return stdout, stderr, nil
}
