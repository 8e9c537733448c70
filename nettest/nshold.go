package nettest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Holding namespaces without a file descriptor each.
//
// A network namespace lives as long as something holds it: a process
// inside, an open file, or a bind mount of its nsfs file. Holding each node
// by a descriptor costs one descriptor per node, and the process's limit
// (often 1,024, at most its hard limit) caps the topology. Instead, Build
// bind-mounts each node's namespace onto a file in a tmpfs that only this
// process sees: the holder, one OS thread locked for good in a mount
// namespace of its own. The holder's mount namespace is made from the
// process's with every mount private (nothing propagates to or from the
// host), then pivots to a fresh tmpfs and detaches the rest, so it holds
// nothing of the host's either (no copy of someone's /run/netns mount that
// would keep their namespace alive). Each Network gets a tmpfs of its own in
// there, with one file per node.
//
// Only the holder's thread can mount there (mount(2) acts on the caller's
// mount namespace), but any thread can open a node's file: openat(2)
// relative to a descriptor of the Network's directory walks into the
// holder's mounts. A node's namespace is opened only while it is used.
//
// When the process dies, its holder thread dies with it, and with the
// thread the mount namespace and every mount in it: the namespaces vanish
// as descriptors would (DESIGN rule 3). Close unmounts the Network's tmpfs,
// every node's mount with it, in one call.

// holder is the thread that owns the private mount namespace; started once,
// on first use.
type holder struct {
	reqs chan holderReq
}

type holderReq struct {
	fn   func() error
	done chan error
}

var (
	holderOnce sync.Once
	theHolder  *holder
	holderErr  error
	holderSeq  atomic.Uint64
)

// getHolder starts the holder thread if needed.
func getHolder() (*holder, error) {
	holderOnce.Do(func() {
		h := &holder{reqs: make(chan holderReq)}
		ready := make(chan error, 1)
		go h.run(ready)
		if holderErr = <-ready; holderErr == nil {
			theHolder = h
		}
	})
	return theHolder, holderErr
}

// run is the holder's goroutine. It never unlocks its thread: the thread's
// mount namespace and root differ from the process's, so no other
// goroutine may ever run on it. Should setting up fail, the goroutine
// returns still locked and the runtime ends the thread.
func (h *holder) run(ready chan<- error) {
	runtime.LockOSThread()
	if err := holderSetup(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for r := range h.reqs {
		r.done <- r.fn()
	}
}

// holderSetup moves the calling thread into a new mount namespace whose only
// mount is an empty tmpfs, its root.
func holderSetup() error {
	// CLONE_NEWNS gives the thread a filesystem context (root, working
	// directory) of its own, too: other threads are not affected.
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return privilegeError("creating a mount namespace to hold the namespaces in", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the holder's mounts private: %w", err)
	}
	// Any directory will do as a mount point: it is covered only in this
	// mount namespace, and the old root goes away below.
	var dir string
	for _, d := range []string{"/tmp", "/mnt", "/run", "/dev"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dir = d
			break
		}
	}
	if dir == "" {
		return errors.New("no directory to mount the holder's tmpfs on (/tmp, /mnt, /run, /dev)")
	}
	if err := unix.Mount("nettest-ns", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return fmt.Errorf("mounting the holder's tmpfs on %s: %w", dir, err)
	}
	if err := unix.Chdir(dir); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on the new one; detaching
	// it leaves the tmpfs alone.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivoting the holder's root to its tmpfs: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the holder's old root: %w", err)
	}
	return unix.Chdir("/")
}

// do runs fn on the holder's thread.
func (h *holder) do(fn func() error) error {
	done := make(chan error, 1)
	h.reqs <- holderReq{fn: fn, done: done}
	return <-done
}

// nsDir is one Network's directory in the holder: a tmpfs with a file per
// bound namespace.
type nsDir struct {
	h    *holder
	path string // in the holder's mount namespace
	fd   int    // O_PATH descriptor of the tmpfs's root, for openat
	mu   sync.Mutex
	gone bool
}

// newNSDir makes a directory, with a tmpfs of its own, in the holder.
func newNSDir() (*nsDir, error) {
	h, err := getHolder()
	if err != nil {
		return nil, err
	}
	d := &nsDir{h: h, path: "/" + strconv.FormatUint(holderSeq.Add(1), 10), fd: -1}
	err = h.do(func() error {
		if err := unix.Mkdir(d.path, 0o700); err != nil {
			return err
		}
		if err := unix.Mount("nettest-ns", d.path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
			unix.Rmdir(d.path)
			return err
		}
		fd, err := unix.Open(d.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Unmount(d.path, unix.MNT_DETACH)
			unix.Rmdir(d.path)
			return err
		}
		d.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("making a directory to hold the namespaces in: %w", err)
	}
	return d, nil
}

// bind bind-mounts each namespace descriptor onto a new file of the
// directory, named by names.
func (d *nsDir) bind(fds []int, names []string) error {
	return d.h.do(func() error {
		for i, fd := range fds {
			path := d.path + "/" + names[i]
			f, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_CLOEXEC, 0o400)
			if err != nil {
				return fmt.Errorf("holding the namespace: creating its file: %w", err)
			}
			unix.Close(f)
			// open_tree clones the nsfs file's mount (the holder cannot see
			// /proc to name it); move_mount attaches the clone.
			t, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
			if err != nil {
				return fmt.Errorf("holding the namespace: open_tree: %w", err)
			}
			err = unix.MoveMount(t, "", unix.AT_FDCWD, path, unix.MOVE_MOUNT_F_EMPTY_PATH)
			unix.Close(t)
			if err != nil {
				return fmt.Errorf("holding the namespace: move_mount: %w", err)
			}
		}
		return nil
	})
}

// open opens the namespace bound on the file name, read-only, close-on-exec.
func (d *nsDir) open(name string) (int, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening the namespace: %w", err)
	}
	return fd, nil
}

// stat returns the identity (nsfs device and inode) of the namespace bound
// on name.
func (d *nsDir) stat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, 0)
	return st, err
}

// release unmounts the directory's tmpfs, and with it every namespace bound
// there, in one call: the kernel then destroys those that nothing else
// holds. Idempotent.
func (d *nsDir) release() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gone {
		return nil
	}
	d.gone = true
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
	return d.h.do(func() error {
		if err := unix.Unmount(d.path, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("releasing the namespaces: unmounting their directory: %w", err)
		}
		return unix.Rmdir(d.path)
	})
}
