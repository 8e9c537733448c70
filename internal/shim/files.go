package shim

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A node's own files live in a directory laid out as the node's root:
//
//	etc/       the node's /etc: the upper layer of an overlay on the host's /etc
//	run/       the node's /run, and /var/run
//	tmp/       the node's /tmp
//	var/tmp/   the node's /var/tmp
//	var/log/   the node's /var/log
//	.work/etc  overlayfs's work directory for etc/
//
// [MountFiles] puts them in place in a mount namespace of the caller's own.

// Private are the directories of a node that are its own (the node's
// files directory holds one of each, at the same relative path), with
// their modes: a program of the node sees these, not the host's. /var/run
// is the node's /run.
var Private = []struct {
	Path string
	Mode fs.FileMode
}{
	{"/etc", 0o755},
	{"/run", 0o755},
	{"/tmp", fs.ModeSticky | 0o777},
	{"/var/tmp", fs.ModeSticky | 0o777},
	{"/var/log", 0o755},
}

// etcWork is the overlay's work directory, relative to the files
// directory; it must be on the same file system as etc/.
const etcWork = ".work/etc"

// MakeFilesDir makes the layout of a node's files directory in dir, and
// puts the node's hostname, the topology's hosts file and a resolv.conf
// that sends no query out of the node in its etc/ (hosts is rewritten when
// it is still the one nettest wrote; the others only when missing).
func MakeFilesDir(dir, hostname, hosts string) error {
	for _, p := range Private {
		d := filepath.Join(dir, p.Path)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		// MkdirAll's mode goes through the umask, and has no sticky bit.
		if err := os.Chmod(d, p.Mode); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, etcWork), 0o700); err != nil {
		return err
	}
	etc := filepath.Join(dir, "etc")
	for _, f := range []struct{ name, data string }{{"hostname", hostname + "\n"}, {"resolv.conf", resolvConf}} {
		if _, err := os.Lstat(filepath.Join(etc, f.name)); err == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(etc, f.name), []byte(f.data), 0o644); err != nil {
			return err
		}
	}
	path := filepath.Join(etc, "hosts")
	old, err := os.ReadFile(path)
	if err == nil && (string(old) == hosts || !strings.Contains(string(old), HostsMark)) {
		return nil // up to date, or the test's own
	}
	return os.WriteFile(path, []byte(hosts), 0o644)
}

// HostsMark is in every hosts file nettest writes (before the topology's
// name): MakeFilesDir keeps a hosts file without it, the test's own.
const HostsMark = "# nettest topology "

// Overlay reports whether the kernel has overlayfs (in /proc/filesystems),
// which gives every node an /etc of its own: the host's /etc below, the
// node's files above.
func Overlay() bool {
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 0 && fields[len(fields)-1] == "overlay" {
			return true
		}
	}
	return false
}

// MountFiles gives the calling thread's mount namespace, which must be its
// own with private mounts, the node's files in dir (see [MakeFilesDir]):
// its /run (and /var/run), /tmp, /var/tmp and /var/log are bind mounts of
// the node's directories, and its /etc an overlay of the node's etc/ on
// the host's /etc (overlay true), or else the host's /etc made read-only
// with every file of the node's etc/ bound over the host's file of the
// same name. Every directory at the top of the host's /tmp when it is
// called stays reachable in the node's /tmp at its path: that is where go
// test's binaries and a test's t.TempDir() live; so does each of the
// host's directories in keep that exists (a working directory, the
// parent's state directory). dir may be a path the new mounts hide (every
// source is opened first).
func MountFiles(dir string, overlay bool, keep []string) error {
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	open := func(path string) (string, error) {
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			return "", &fs.PathError{Op: "open", Path: path, Err: err}
		}
		fds = append(fds, fd)
		return fmt.Sprintf("/proc/self/fd/%d", fd), nil
	}
	src := map[string]string{}
	for _, p := range append(Private, struct {
		Path string
		Mode fs.FileMode
	}{"/" + etcWork, 0}) {
		s, err := open(filepath.Join(dir, p.Path))
		if err != nil {
			return fmt.Errorf("the node's files: %w", err)
		}
		src[p.Path] = s
	}
	// The host's directories that stay: the top of /tmp, as it is now, and
	// those asked for that the node's own directories would hide.
	var kept [][2]string // path, source
	if entries, err := os.ReadDir("/tmp"); err == nil {
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			if s, err := open("/tmp/" + e.Name()); err == nil { // else gone meanwhile
				kept = append(kept, [2]string{"/tmp/" + e.Name(), s})
			}
		}
	}
	for _, k := range keep {
		k = filepath.Clean(k)
		if !filepath.IsAbs(k) || !hidden(k) {
			continue
		}
		if fi, err := os.Stat(k); err == nil && fi.IsDir() {
			if s, err := open(k); err == nil {
				kept = append(kept, [2]string{k, s})
			}
		}
	}
	if err := mountEtc(dir, src, overlay); err != nil {
		return err
	}
	binds := [][2]string{{src["/run"], "/run"}, {src["/tmp"], "/tmp"}}
	if fi, err := os.Lstat("/var/run"); err == nil && fi.IsDir() {
		binds = append(binds, [2]string{src["/run"], "/var/run"}) // not the usual link to /run
	}
	for _, p := range []string{"/var/tmp", "/var/log"} {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			binds = append(binds, [2]string{src[p], p})
		}
	}
	for _, b := range binds {
		if err := unix.Mount(b[0], b[1], "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("mounting the node's %s: %w", b[1], err)
		}
	}
	for _, k := range kept {
		if err := os.MkdirAll(k[0], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("keeping the host's %s: %w", k[0], err)
		}
		if err := unix.Mount(k[1], k[0], "", unix.MS_BIND|unix.MS_REC, ""); errors.Is(err, unix.ENOENT) {
			os.Remove(k[0]) // removed from the host's /tmp meanwhile: nothing to keep
		} else if err != nil {
			return fmt.Errorf("keeping the host's %s: %w", k[0], err)
		}
	}
	return nil
}

// hidden reports whether path is in a directory the node's own hide (not
// /etc, which shows the host's below the node's).
func hidden(path string) bool {
	for _, p := range []string{"/run", "/var/run", "/tmp", "/var/tmp", "/var/log"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return path != p
		}
	}
	return false
}

// mountEtc gives the node its /etc.
func mountEtc(dir string, src map[string]string, overlay bool) error {
	if overlay {
		opts := "lowerdir=/etc,upperdir=" + src["/etc"] + ",workdir=" + src["/"+etcWork]
		if err := unix.Mount("overlay", "/etc", "overlay", 0, opts); err != nil {
			return fmt.Errorf("mounting the node's /etc (overlay %s): %w", opts, err)
		}
		return nil
	}
	// No overlayfs: the host's /etc, read-only here, with the node's files
	// bound over it.
	if err := unix.Mount("/etc", "/etc", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding /etc: %w", err)
	}
	if err := unix.Mount("", "/etc", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("making /etc read-only: %w", err)
	}
	etc := filepath.Join(dir, "etc")
	return filepath.WalkDir(etc, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(etc, path)
		at := filepath.Join("/etc", rel)
		if _, err := os.Stat(at); err != nil && (rel == "hostname" || rel == "hosts" || rel == "resolv.conf") {
			return nil // nettest's, for a host that has none
		}
		if err := unix.Mount(path, at, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding the node's %s (without overlayfs only files the host's /etc has can be replaced): %w", at, err)
		}
		return nil
	})
}
