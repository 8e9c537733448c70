package main

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/nettest"
)

// labError turns the lab package's errors about input into usage errors
// (exit 2).
func labError(err error) error {
	if errors.Is(err, lab.ErrBadName) || errors.Is(err, lab.ErrExists) {
		return usageError("%v", err)
	}
	return err
}

// findState returns the state of a lab that is up, or a usage error that
// lists those that are.
func findState(name string) (*lab.State, error) {
	st, err := lab.Read(name)
	if err == nil {
		if !st.Complete {
			if st.Owner.Alive() {
				return nil, usageError("topology %s is still being brought up by %s", name, st.Owner)
			}
			return nil, usageError("topology %s was not fully brought up (%s ended first): nettest-run down %s or clean removes what it left", name, st.Owner, name)
		}
		if st.Gone() {
			return nil, &exitError{1, goneError{st}.Error()}
		}
		return st, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, labError(err)
	}
	names, _ := lab.UpNames()
	list := "none is up"
	if len(names) > 0 {
		list = "up: " + strings.Join(names, ", ")
	}
	if persisted, _ := nettest.ListPersisted(); persisted[name] != nil {
		return nil, usageError("topology %q has namespaces under %s but no state in %s: it was not made by nettest-run up (ip netns exec %s ... reaches it; nettest-run down %s removes it)", name, nettest.NetnsDir, lab.Dir, nettest.PersistedName(name, persisted[name][0]), name)
	}
	return nil, usageError("no topology %q is up (%s)", name, list)
}
