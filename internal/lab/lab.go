// Package lab records the labs that nettest-run leaves up: for each, a
// state file — what was built, by which process, whether it is complete,
// and the processes started — and a folder for those processes' files,
// both inside Dir. Everything here acts only on what such a record proves
// nettest made: names are checked by the scenario-name rule before they
// touch the file system, paths are derived from names and never read from
// a file, and processes are matched by PID, start time and boot.
//
// It imports nettest and internal/owner; the CLI imports it.
package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/nettest"
)

// Dir holds, for every topology that nettest-run left up (a lab), a state
// file NAME.json and a folder NAME/ with its processes' files. Nothing
// outside it (and the namespaces nettest's own records prove it persisted)
// is ever removed on its word.
const Dir = nettest.StateDir + "/labs"

// Errors, wrapped with the lab's name.
var (
	// ErrBadName: the name could not name a scenario (and so no lab).
	ErrBadName = errors.New("not a valid lab name")
	// ErrExists: a lab of that name is recorded already.
	ErrExists = errors.New("is up already (or being brought up)")
)

// State is what nettest-run records of a lab.
type State struct {
	Name     string      `json:"name"`
	File     string      `json:"file"`
	By       string      `json:"by"` // "up", "run --keep-on-failure"
	Created  time.Time   `json:"created"`
	Owner    owner.Owner `json:"owner"`    // the process that made it
	Complete bool        `json:"complete"` // false while up is still building it
	// Supervised says that Owner is the lab's supervisor: the process
	// that built the lab, keeps it (its userspace links, captures,
	// partitions) and serves Socket while it runs.
	Supervised bool             `json:"supervised,omitempty"`
	Topology   nettest.Topology `json:"topology"`
	// Namespaces are the names under /run/netns; which namespaces they
	// are is in nettest's own record (see nettest.Network.Persist).
	Namespaces []string  `json:"namespaces"`
	Processes  []Process `json:"processes,omitempty"`
}

// Process is a process nettest-run started and left running: the
// shim that is its PID namespace's init, identified by PID, start time and
// boot, so that a reused PID is never signalled.
type Process struct {
	Name      string `json:"name"`
	Node      string `json:"node"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // /proc/PID/stat field 22
	Boot      string `json:"boot_id"`
	Command   string `json:"command"`
	Dir       string `json:"dir"`
}

// CheckName refuses a name that could not have named a scenario: such a
// name leads nowhere near the file system.
func CheckName(name string) error {
	if err := nettest.CheckTopologyName(name); err != nil {
		return fmt.Errorf("%w: %v", ErrBadName, err)
	}
	return nil
}

// Path returns the state file of a lab.
func Path(name string) string { return filepath.Join(Dir, name+".json") }

// FilesDir returns the folder of a lab's processes: always inside Dir,
// derived from the name, never read from the state file.
func FilesDir(name string) string { return filepath.Join(Dir, name) }

// Socket returns the unix socket a lab's supervisor serves, in its folder:
// no process of a scenario is named with a dot, so none can take the name.
func Socket(name string) string { return filepath.Join(FilesDir(name), "supervisor.sock") }

// Log returns the file a lab's supervisor writes its output to.
func Log(name string) string { return filepath.Join(FilesDir(name), "supervisor.log") }

// Gone reports whether the lab's supervisor has ended without taking the
// lab down (killed with SIGKILL, say): what it made is left, unowned, for
// down or clean to remove.
func (s *State) Gone() bool { return s.Supervised && !s.Owner.Alive() }

// Write replaces the lab's state file (atomically).
func (s *State) Write() error { return owner.WriteRecord(Path(s.Name), s) }

// Claim records a lab before anything of it is made, incomplete and owned
// by this process, then makes its files folder. It fails if a lab of that
// name is recorded already. A process killed at any point leaves a state
// file that clean can act on (an unreadable one names the lab by its file
// name).
func (s *State) Claim() error {
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(Path(s.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("topology %s %w", s.Name, ErrExists)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(append(data, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		os.RemoveAll(FilesDir(s.Name)) // left by a lab removed by hand, say: ours by its place
		err = os.Mkdir(FilesDir(s.Name), 0o755)
	}
	if err != nil {
		os.Remove(Path(s.Name))
		return err
	}
	return nil
}

// Read returns a lab's state. A missing lab is an error wrapping
// fs.ErrNotExist; a state file that names a process folder outside the
// lab's own is refused.
func Read(name string) (*State, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	var s State
	if err := owner.ReadRecord(Path(name), &s); err != nil {
		return nil, err
	}
	if s.Name != name {
		return nil, fmt.Errorf("%s: records lab %q", Path(name), s.Name)
	}
	for _, p := range s.Processes {
		if !inside(FilesDir(name), p.Dir) {
			return nil, fmt.Errorf("%s: process %s: folder %s is not inside %s", Path(name), p.Name, p.Dir, FilesDir(name))
		}
	}
	return &s, nil
}

// inside reports whether path is dir or below it, lexically.
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// Names lists the labs recorded in Dir, sorted.
func Names() ([]string, error) {
	var names []string
	entries, err := os.ReadDir(Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && nettest.CheckTopologyName(n) == nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// UpNames lists the topologies that are up: labs recorded in Dir, and
// namespaces nettest's records prove it persisted, sorted.
func UpNames() ([]string, error) {
	names, err := Names()
	if err != nil {
		return nil, err
	}
	persisted, err := nettest.ListPersisted()
	if err != nil {
		return nil, err
	}
	for n := range persisted {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Owner returns the recorded process as an owner.Owner.
func (p Process) Owner() owner.Owner {
	return owner.Owner{PID: p.PID, Start: p.StartTime, Boot: p.Boot}
}

// Alive reports whether the recorded process is still the one we started.
func (p Process) Alive() bool { return p.Owner().Alive() }

// End stops a recorded process: SIGTERM (the shim passes it on), SIGKILL
// to the shim after the grace period, which ends everything in its PID
// namespace. Only the process recorded, by PID, start time and boot.
func (p Process) End(grace time.Duration) error {
	if !p.Alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("process %s (pid %d): %w", p.Name, p.PID, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.Alive() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.Alive() {
		syscall.Kill(p.PID, syscall.SIGKILL)
	}
	for range 100 {
		if !p.Alive() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("process %s (pid %d) did not end", p.Name, p.PID)
}

// Remove ends a lab's processes, removes its namespaces (those nettest's
// record proves are its own), its files and its state.
func (s *State) Remove() error {
	var errs []error
	for _, p := range s.Processes {
		errs = append(errs, p.End(5*time.Second))
	}
	if err := nettest.RemovePersisted(s.Name); err != nil && !errors.Is(err, nettest.ErrNotPersisted) {
		errs = append(errs, err)
	}
	errs = append(errs, os.RemoveAll(FilesDir(s.Name)))
	if err := os.Remove(Path(s.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	os.Remove(Dir) // only if empty
	return errors.Join(errs...)
}
