package main

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

// LabsDir holds, for every topology that nettest-run left up (a lab), a
// state file NAME.json — what was built, by which process, and the
// processes it started — and a folder NAME/ with those processes' files.
// status, exec, shell, down and clean read it; nothing outside it (and the
// namespaces nettest's own records prove it persisted) is ever removed on
// its word.
var LabsDir = filepath.Join(nettest.StateDir, "labs")

// State is what nettest-run records of a lab.
type State struct {
	Name     string           `json:"name"`
	File     string           `json:"file"`
	By       string           `json:"by"` // "up", "run --keep-on-failure"
	Created  time.Time        `json:"created"`
	Owner    owner.Owner      `json:"owner"`    // the process that made it
	Complete bool             `json:"complete"` // false while up is still building it
	Topology nettest.Topology `json:"topology"`
	// Namespaces are the names under /run/netns; which namespaces they
	// are is in nettest's own record (see nettest.Network.Persist).
	Namespaces []string       `json:"namespaces"`
	Processes  []StateProcess `json:"processes,omitempty"`
}

// StateProcess is a process nettest-run started and left running: the
// shim that is its PID namespace's init, identified by PID, start time and
// boot, so that a reused PID is never signalled.
type StateProcess struct {
	Name      string `json:"name"`
	Node      string `json:"node"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // /proc/PID/stat field 22
	Boot      string `json:"boot_id"`
	Command   string `json:"command"`
	Dir       string `json:"dir"`
}

// checkLabName refuses a name that could not have named a scenario: such a
// name is a usage error, and leads nowhere near the file system.
func checkLabName(name string) error {
	if err := nettest.CheckTopologyName(name); err != nil {
		return usageError("%v", err)
	}
	return nil
}

func statePath(name string) string { return filepath.Join(LabsDir, name+".json") }

// filesDir is the folder of a lab's processes: always inside LabsDir,
// derived from the name, never read from the state file.
func filesDir(name string) string { return filepath.Join(LabsDir, name) }

func (s *State) write() error {
	if err := os.MkdirAll(LabsDir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(s.Name) + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, statePath(s.Name))
}

// claim records a lab before anything of it is made, incomplete and owned
// by this process, then makes its files folder. It fails if a lab of that
// name is recorded already. A process killed at any point leaves a state
// file that clean can act on (an unreadable one names the lab by its file
// name).
func (s *State) claim() error {
	if err := os.MkdirAll(LabsDir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(statePath(s.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return usageError("topology %s is up already (or being brought up): nettest-run down %s first, or give this one another name", s.Name, s.Name)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(append(data, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		os.RemoveAll(filesDir(s.Name)) // left by a lab removed by hand, say: ours by its place
		err = os.Mkdir(filesDir(s.Name), 0o755)
	}
	if err != nil {
		os.Remove(statePath(s.Name))
		return err
	}
	return nil
}

func readState(name string) (*State, error) {
	if err := checkLabName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(statePath(name))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(name), err)
	}
	if s.Name != name {
		return nil, fmt.Errorf("%s: records lab %q", statePath(name), s.Name)
	}
	for _, p := range s.Processes {
		if !inside(filesDir(name), p.Dir) {
			return nil, fmt.Errorf("%s: process %s: folder %s is not inside %s", statePath(name), p.Name, p.Dir, filesDir(name))
		}
	}
	return &s, nil
}

// inside reports whether path is dir or below it, lexically.
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// labNames lists the labs recorded in LabsDir, sorted.
func labNames() ([]string, error) {
	var names []string
	entries, err := os.ReadDir(LabsDir)
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

// upNames lists the topologies that are up: labs recorded in LabsDir, and
// namespaces nettest's records prove it persisted, sorted.
func upNames() ([]string, error) {
	names, err := labNames()
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

// findState returns the state of a topology that is up, or an error that
// lists those that are.
func findState(name string) (*State, error) {
	st, err := readState(name)
	if err == nil {
		if !st.Complete {
			if st.Owner.Alive() {
				return nil, usageError("topology %s is still being brought up by %s", name, st.Owner)
			}
			return nil, usageError("topology %s was not fully brought up (%s ended first): nettest-run down %s or clean removes what it left", name, st.Owner, name)
		}
		return st, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	names, _ := upNames()
	list := "none is up"
	if len(names) > 0 {
		list = "up: " + strings.Join(names, ", ")
	}
	if persisted, _ := nettest.ListPersisted(); persisted[name] != nil {
		return nil, usageError("topology %q has namespaces under %s but no state in %s: it was not made by nettest-run up (ip netns exec %s ... reaches it; nettest-run down %s removes it)", name, nettest.NetnsDir, LabsDir, nettest.PersistedName(name, persisted[name][0]), name)
	}
	return nil, usageError("no topology %q is up (%s)", name, list)
}

func (p StateProcess) owner() owner.Owner {
	return owner.Owner{PID: p.PID, Start: p.StartTime, Boot: p.Boot}
}

// alive reports whether the recorded process is still the one we started.
func (p StateProcess) alive() bool { return p.owner().Alive() }

// end stops a recorded process: SIGTERM (the shim passes it on), SIGKILL
// to the shim after the grace period, which ends everything in its PID
// namespace. Only the process recorded, by PID, start time and boot.
func (p StateProcess) end(grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("process %s (pid %d): %w", p.Name, p.PID, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.alive() {
		syscall.Kill(p.PID, syscall.SIGKILL)
	}
	for range 100 {
		if !p.alive() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("process %s (pid %d) did not end", p.Name, p.PID)
}

// remove ends a lab's processes, removes its namespaces (those nettest's
// record proves are its own), its files and its state.
func (s *State) remove() error {
	var errs []error
	for _, p := range s.Processes {
		errs = append(errs, p.end(5*time.Second))
	}
	if err := nettest.RemovePersisted(s.Name); err != nil && !errors.Is(err, nettest.ErrNotPersisted) {
		errs = append(errs, err)
	}
	errs = append(errs, os.RemoveAll(filesDir(s.Name)))
	if err := os.Remove(statePath(s.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	os.Remove(LabsDir) // only if empty
	return errors.Join(errs...)
}
