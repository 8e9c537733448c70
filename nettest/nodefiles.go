package nettest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/shim"
)

// A node is a small machine: every program started in it (Node.Command,
// Node.ProgramCommand, Node.Exec) sees the node's own /run (also
// /var/run), /tmp, /var/tmp and /var/log, and an /etc of its own — the
// host's /etc with the node's files (hostname, hosts, resolv.conf, and
// whatever the test puts there) over it. Every program of the node sees the
// same files, for as long as the Network is open; no other node, and not
// the host, sees them.
//
// They live in one tmpfs per Network that is mounted nowhere: the kernel
// made it for this process (fsopen(2), fsmount(2)), a file descriptor holds
// it, and it is gone when Close closes that descriptor or the process dies,
// by any means. Nothing of it is written to a disk or seen by another
// process. (FRR's topotest engine, munet, keeps one mount namespace per
// node alive and binds folders of its run directory, on disk; here every
// program gets a mount namespace of its own, and the files outlive them in
// memory.) Each program's init process (internal/shim) binds the node's
// directories over /run, /tmp, ... in its own mount namespace, and mounts
// /etc as an overlay (overlayfs: lowerdir the host's /etc, upperdir the
// node's etc/). A kernel without overlayfs gets the host's /etc read-only
// with each of the node's files bound over the host's file of that name
// (the node can then replace files of the host's /etc but not add any); a
// kernel that cannot bind a mount that is mounted nowhere (older ones; a
// probe tells, when a Network first needs its nodes' files)
// gets an ordinary folder in os.TempDir() instead, which Close removes (a
// process killed with SIGKILL leaves it behind).

// keepDirs are the host's directories that stay reachable in a node though
// in one of its own: nettest's state directory (the folders of a lab's
// processes) and the program's working directory.
func keepDirs(dir string) []string {
	keep := []string{StateDir}
	if dir != "" {
		keep = append(keep, dir)
	}
	return keep
}

// nodeFiles is where a Network keeps its nodes' own files: made at first
// use, removed by Network.Close.
type nodeFiles struct {
	mu      sync.Mutex
	done    bool
	err     error
	root    string // the directory holding one directory per node
	fd      int    // the tmpfs's descriptor, or -1 (a folder)
	overlay bool
	closed  bool
}

// open makes the store at first use: a tmpfs mounted nowhere if this
// kernel lets a shim bind it, else a folder; overlayfs for /etc if the
// kernel has it and takes the store as upper layer.
func (s *nodeFiles) open() error {
	if s.done {
		return s.err
	}
	s.done, s.fd = true, -1
	if fd, err := detachedTmpfs(); err == nil {
		root := fmt.Sprintf("/proc/self/fd/%d", fd)
		if binds, overlay := probeMounts(root); binds {
			s.fd, s.root, s.overlay = fd, root, overlay
			return nil
		}
		unix.Close(fd)
	}
	if s.root, s.err = os.MkdirTemp("", "nettest-files-"); s.err != nil {
		return s.err
	}
	_, s.overlay = probeMounts(s.root)
	return nil
}

// detachedTmpfs returns a new tmpfs, mounted nowhere, held by the file
// descriptor returned.
func detachedTmpfs() (int, error) {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "mode", "0755"); err != nil {
		return -1, err
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, err
	}
	return unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
}

// probeMounts tries, in a mount namespace of a thread's own that dies
// with it, what a shim will do with the store at root: bind a directory of
// it, and (if the kernel has overlayfs) make it the upper layer of an
// overlay on /etc. It leaves root as it found it.
func probeMounts(root string) (binds, overlay bool) {
	dir, err := os.MkdirTemp(root, ".probe-")
	if err != nil {
		return false, false
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"u", "w", "m"} {
		if err := os.Mkdir(dir+"/"+d, 0o755); err != nil {
			return false, false
		}
	}
	type result struct{ binds, overlay bool }
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, in a mount namespace of its own,
		// ends with this goroutine.
		runtime.LockOSThread()
		var r result
		defer func() { done <- r }()
		if unix.Unshare(unix.CLONE_NEWNS) != nil || unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") != nil {
			return
		}
		r.binds = unix.Mount(dir+"/m", "/tmp", "", unix.MS_BIND, "") == nil
		if shim.Overlay() {
			opts := "lowerdir=/etc,upperdir=" + dir + "/u,workdir=" + dir + "/w"
			r.overlay = unix.Mount("overlay", "/etc", "overlay", 0, opts) == nil
		}
	}()
	r := <-done
	return r.binds, r.overlay
}

// nodeDir returns the node's files directory, made (see
// shim.MakeFilesDir) with the topology's current hosts file.
func (s *nodeFiles) nodeDir(n *Node) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", ErrClosed
	}
	if err := s.open(); err != nil {
		return "", fmt.Errorf("making the node's own files: %w", err)
	}
	dir := filepath.Join(s.root, n.p.name)
	if err := shim.MakeFilesDir(dir, n.p.name, n.net.Hosts()); err != nil {
		return "", fmt.Errorf("making the node's own files: %w", err)
	}
	return dir, nil
}

// close removes every node's files.
func (s *nodeFiles) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if !s.done || s.err != nil {
		return nil
	}
	if s.fd >= 0 {
		return unix.Close(s.fd)
	}
	return os.RemoveAll(s.root)
}

// FilesDir returns the directory that holds the node's own files, laid out
// as the node's root: etc/ (the node's files over the host's /etc: only
// those the node or the test wrote), run/ (the node's /run and /var/run),
// tmp/, var/tmp/ and var/log/. The path is good in this process only (it
// may go through /proc/self), until Network.Close; use it to walk or copy
// the node's files, or to hand a daemon's directory to its user
// (os.Chown). Node.FilePath maps one of the node's paths to this directory.
func (n *Node) FilesDir() (string, error) {
	var dir string
	err := n.net.use("node "+n.p.name, func() (err error) {
		dir, err = n.net.files.nodeDir(n)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", n.where(), err)
	}
	return dir, nil
}

// ownPrefixes are the node's own directories, as its programs name them.
var ownPrefixes = []string{"/etc", "/run", "/var/run", "/tmp", "/var/tmp", "/var/log"}

// FilePath returns where this process finds the file that the node's
// programs see at path, an absolute path under one of the node's own
// directories (/etc, /run, /var/run, /tmp, /var/tmp, /var/log); for /etc
// that is the node's layer, which has only the files the node or the test
// wrote. A directory at the top of the host's /tmp (as t.TempDir() makes),
// and nettest's state directory, are the host's in the node too: their
// paths are returned as they are.
func (n *Node) FilePath(path string) (string, error) {
	rel, err := n.ownPath(path)
	if err != nil {
		return "", err
	}
	if within(filepath.Clean(path), StateDir) {
		return filepath.Clean(path), nil // the host's: see keepDirs
	}
	if rest, ok := strings.CutPrefix(rel, "tmp/"); ok {
		top, _, _ := strings.Cut(rest, "/")
		if fi, err := os.Stat("/tmp/" + top); err == nil && fi.IsDir() {
			return filepath.Clean(path), nil
		}
	}
	dir, err := n.FilesDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, rel), nil
}

// ownPath checks path and returns it relative to the node's files
// directory.
func (n *Node) ownPath(path string) (string, error) {
	clean := filepath.Clean(path)
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%s: file %q: not an absolute path", n.where(), path)
	}
	for _, p := range ownPrefixes {
		if clean == p || strings.HasPrefix(clean, p+"/") {
			if p == "/var/run" {
				clean = "/run" + strings.TrimPrefix(clean, p)
			}
			return strings.TrimPrefix(clean, "/"), nil
		}
	}
	return "", fmt.Errorf("%s: file %s: not one of the node's own files (those are under %s)", n.where(), path, strings.Join(ownPrefixes, ", "))
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// WriteFile writes data to the node's file at path (see FilePath), with
// permissions perm, making the directories above it (mode 0755, owned by
// root) as needed: the way to give a daemon its configuration
// (/etc/frr/frr.conf) before starting it. The file is the node's only:
// the host's /etc and every other node are untouched. Write a file in /etc
// before starting the programs that read it: a program that already has
// the file open may not see the change.
func (n *Node) WriteFile(path string, data []byte, perm fs.FileMode) error {
	p, err := n.FilePath(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("%s: writing %s: %w", n.where(), path, unwrapPath(err))
	}
	if err := os.WriteFile(p, data, perm); err != nil {
		return fmt.Errorf("%s: writing %s: %w", n.where(), path, unwrapPath(err))
	}
	if err := os.Chmod(p, perm); err != nil { // not what the umask left
		return fmt.Errorf("%s: writing %s: %w", n.where(), path, unwrapPath(err))
	}
	return nil
}

// MkdirAll makes the node's directory at path (see FilePath), and those
// above it, with permissions perm, owned by uid and gid (0, 0 for root):
// the directory a daemon that drops its privileges writes in
// (/run/frr, owned by user frr). An existing directory gets perm and the
// owner too.
func (n *Node) MkdirAll(path string, perm fs.FileMode, uid, gid int) error {
	p, err := n.FilePath(path)
	if err != nil {
		return err
	}
	err = os.MkdirAll(p, 0o755)
	if err == nil {
		err = os.Chmod(p, perm)
	}
	if err == nil {
		err = os.Chown(p, uid, gid)
	}
	if err != nil {
		return fmt.Errorf("%s: making %s: %w", n.where(), path, unwrapPath(err))
	}
	return nil
}

// ReadFile returns the contents of the file that the node's programs see
// at path (see FilePath): a daemon's log in /var/log, its pid file in
// /run. For /etc it is the node's file, or else the host's.
func (n *Node) ReadFile(path string) ([]byte, error) {
	p, err := n.FilePath(path)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) && p != filepath.Clean(path) && strings.HasPrefix(filepath.Clean(path), "/etc/") {
		b, err = os.ReadFile(filepath.Clean(path)) // the host's, below the node's
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", n.where(), path, unwrapPath(err))
	}
	return b, nil
}

// unwrapPath drops the *fs.PathError of a path this process uses (which may
// go through /proc/self), leaving its cause: the caller names the node's
// path instead.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
