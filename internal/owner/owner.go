// Package owner records which process made something, in a form that
// proves it later: the PID, the process's start time (so a reused PID does
// not match) and the boot (so a PID from before a reboot does not match).
//
// nettest removes only what it can prove it made (DESIGN.md, rule 9): a
// record that names an owner lets clean tell a lab still being built by a
// live process from the remains of one that was killed, and a scratch
// folder carrying an owner file from a folder someone else made with a
// similar name. The package imports nothing of nettest's.
package owner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Owner identifies a process for as long as it lives, and never another.
type Owner struct {
	PID int `json:"pid"`
	// Start is the process's start time in clock ticks since boot (field
	// 22 of /proc/PID/stat).
	Start uint64 `json:"start_time"`
	// Boot is the kernel's boot ID (/proc/sys/kernel/random/boot_id).
	Boot string `json:"boot_id"`
}

// Self returns the calling process as an Owner.
func Self() Owner {
	pid := os.Getpid()
	return Owner{PID: pid, Start: StartTime(pid), Boot: BootID()}
}

// Of returns the running process pid as an Owner; its Start is 0 if no
// such process runs.
func Of(pid int) Owner {
	return Owner{PID: pid, Start: StartTime(pid), Boot: BootID()}
}

// Alive reports whether the process the record names still runs: same
// boot, same PID, same start time, and not a zombie (a process that
// ended, killed say, and that its parent has not yet reaped: it holds
// nothing any more).
func (o Owner) Alive() bool {
	if o.PID <= 0 || o.Start == 0 || o.Boot != BootID() {
		return false
	}
	start, state := stat(o.PID)
	return start == o.Start && state != "Z" && state != "X"
}

// String returns "pid N".
func (o Owner) String() string { return "pid " + strconv.Itoa(o.PID) }

// StartTime returns a process's start time in clock ticks since boot, or 0
// when no such process exists.
func StartTime(pid int) uint64 {
	start, _ := stat(pid)
	return start
}

// stat returns a process's start time (0 when no such process exists) and
// state ("R", "S", "Z" ...) from /proc/PID/stat.
func stat(pid int) (start uint64, state string) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, ""
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and ')'
	if i < 0 {
		return 0, ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, ""
	}
	v, _ := strconv.ParseUint(f[19], 10, 64) // field 22; f[0] is field 3
	return v, f[0]
}

var boot struct {
	once sync.Once
	id   string
}

// BootID returns the kernel's boot ID, or "" where it cannot be read.
func BootID() string {
	boot.once.Do(func() {
		data, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
		boot.id = strings.TrimSpace(string(data))
	})
	return boot.id
}

// MarkerFile is the file, inside a scratch folder made by MkdirTemp, that
// names the folder's owner.
const MarkerFile = ".nettest-owner.json"

// MkdirTemp makes a folder as os.MkdirTemp does (in os.TempDir() when dir
// is "") and writes the calling process's Owner into it, so that Reap can
// later prove who made it.
func MkdirTemp(dir, pattern string) (string, error) {
	path, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	data, _ := json.Marshal(Self())
	if err := os.WriteFile(filepath.Join(path, MarkerFile), append(data, '\n'), 0o644); err != nil {
		os.RemoveAll(path)
		return "", err
	}
	return path, nil
}

// ReadMarker returns the Owner written into a folder by MkdirTemp.
func ReadMarker(path string) (Owner, error) {
	var o Owner
	data, err := os.ReadFile(filepath.Join(path, MarkerFile))
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal(data, &o); err != nil {
		return o, fmt.Errorf("%s: %w", filepath.Join(path, MarkerFile), err)
	}
	return o, nil
}

// Release removes a folder's owner file: the folder is no longer scratch
// but a result kept for the user (a failed run's captures, say), which Reap
// leaves alone.
func Release(path string) error {
	err := os.Remove(filepath.Join(path, MarkerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Skipped is something a clean-up left alone, and why.
type Skipped struct {
	Path   string
	Reason string
	InUse  bool // its owner still runs
}

// Reap removes the folders in dir (os.TempDir() when "") whose names start
// with prefix and whose owner file names a process that no longer runs: the
// scratch of a process killed before it could clean up. Folders without an
// owner file, owned by another user, or whose owner still runs are left
// alone and listed with the reason. It never follows a symbolic link.
func Reap(dir, prefix string) (removed []string, skipped []Skipped, err error) {
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if e.Type()&fs.ModeSymlink != 0 || !e.IsDir() {
			skipped = append(skipped, Skipped{Path: path, Reason: "not a folder nettest made"})
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if uid, ok := fileUID(info); ok && uid != os.Getuid() {
			skipped = append(skipped, Skipped{Path: path, Reason: "owned by another user"})
			continue
		}
		o, err := ReadMarker(path)
		switch {
		case err != nil:
			skipped = append(skipped, Skipped{Path: path, Reason: "no owner record (" + MarkerFile + "): not provably nettest's"})
		case o.Alive():
			skipped = append(skipped, Skipped{path, "in use by " + o.String(), true})
		default:
			if err := os.RemoveAll(path); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, path)
		}
	}
	return removed, skipped, errors.Join(errs...)
}
