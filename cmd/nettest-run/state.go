package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// StateDir holds a file per topology that nettest-run left up: what was
// built, and the processes it started, so that status, exec, shell, down
// and clean can find them.
const StateDir = "/run/nettest"

// State is what nettest-run records of a topology it left up.
type State struct {
	Name       string           `json:"name"`
	File       string           `json:"file"`
	By         string           `json:"by"` // "up", "run --keep-on-failure"
	Created    time.Time        `json:"created"`
	Topology   nettest.Topology `json:"topology"`
	Namespaces []string         `json:"namespaces"`
	FilesDir   string           `json:"files_dir,omitempty"` // the processes' folders, removed by down
	Processes  []StateProcess   `json:"processes,omitempty"`
}

// StateProcess is a process nettest-run started and left running: the
// shim that is its PID namespace's init, identified by PID and start time
// so that a reused PID is never signalled.
type StateProcess struct {
	Name      string `json:"name"`
	Node      string `json:"node"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // /proc/PID/stat field 22
	Command   string `json:"command"`
	Dir       string `json:"dir"`
}

func statePath(name string) string { return filepath.Join(StateDir, name+".json") }

func (s *State) write() error {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
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

func readState(name string) (*State, error) {
	data, err := os.ReadFile(statePath(name))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(name), err)
	}
	return &s, nil
}

// upNames lists the topologies that are up: recorded in StateDir, or with
// namespaces under /run/netns, sorted.
func upNames() ([]string, error) {
	var names []string
	entries, err := os.ReadDir(StateDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			names = append(names, n)
		}
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
		return nil, usageError("topology %q has namespaces under %s but no state in %s: it was not made by nettest-run up (ip netns exec %s ... reaches it; nettest-run down %s removes it)", name, nettest.NetnsDir, StateDir, nettest.PersistedName(name, persisted[name][0]), name)
	}
	return nil, usageError("no topology %q is up (%s)", name, list)
}

// startTime returns a process's start time in clock ticks since boot, 0
// when it does not exist.
func startTime(pid int) uint64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64) // field 22; f[0] is field 3
	return v
}

// alive reports whether the recorded process is still the one we started.
func (p StateProcess) alive() bool {
	return p.PID > 0 && startTime(p.PID) == p.StartTime
}

// end stops a recorded process: SIGTERM (the shim passes it on), SIGKILL
// to the shim after the grace period, which ends everything in its PID
// namespace. Only the process recorded, by PID and start time.
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

// remove ends a topology's processes, removes its namespaces, its files and
// its state.
func (s *State) remove() error {
	var errs []error
	for _, p := range s.Processes {
		errs = append(errs, p.end(5*time.Second))
	}
	if persisted, _ := nettest.ListPersisted(); persisted[s.Name] != nil {
		errs = append(errs, nettest.RemovePersisted(s.Name))
	}
	if s.FilesDir != "" {
		errs = append(errs, os.RemoveAll(s.FilesDir))
	}
	if err := os.Remove(statePath(s.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
