package nettest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/owner"
)

// NamePrefix begins the name of every network namespace nettest makes
// persistent under /run/netns: "nettest-<topology>.<node>". Names of
// topologies and nodes hold no '.', so the dot splits them unambiguously.
// The prefix is only a convention for people reading `ip netns list`: it
// proves nothing, since anyone can `ip netns add nettest-x`. What nettest
// removes is decided by its records (see [Network.Persist]).
const NamePrefix = "nettest-"

// NetnsDir is where ip-netns(8) keeps named network namespaces.
const NetnsDir = "/run/netns"

// StateDir is nettest's own state folder. Persist records there, in
// StateDir/netns, which namespaces it named; nettest-run keeps its labs in
// StateDir/labs. Nothing outside it is ever removed on the word of a file
// inside it.
const StateDir = "/run/nettest"

// recordDir holds one record per persisted topology.
var recordDir = filepath.Join(StateDir, "netns")

// PersistedName returns the name under /run/netns of a node's namespace.
func PersistedName(topology, node string) string {
	return NamePrefix + topology + "." + node
}

// persistRecord is what Persist writes before it names anything: which
// names it makes, for which namespaces (by their nsfs identity), made by
// whom. A file under /run/netns is nettest's only if it is a mount of the
// very namespace the record names.
type persistRecord struct {
	Topology   string         `json:"topology"`
	Owner      owner.Owner    `json:"owner"`
	Namespaces []persistEntry `json:"namespaces"`
}

// persistEntry names one namespace: its node and the nsfs device and inode
// that identify it while it exists.
type persistEntry struct {
	Node string `json:"node"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
}

func (e persistEntry) path(topology string) string {
	return filepath.Join(NetnsDir, PersistedName(topology, e.Node))
}

func recordPath(topology string) string { return filepath.Join(recordDir, topology+".json") }

func (r *persistRecord) write() error {
	if err := owner.WriteRecord(recordPath(r.Topology), r); err != nil {
		return privilegeError("writing "+recordPath(r.Topology), err)
	}
	return nil
}

// readRecord reads a topology's record; the name must be a valid topology
// name, so that it cannot lead outside recordDir.
func readRecord(topology string) (*persistRecord, error) {
	if err := checkName(topology, 32); err != nil {
		return nil, fmt.Errorf("nettest: topology %w", err)
	}
	var r persistRecord
	if err := owner.ReadRecord(recordPath(topology), &r); err != nil {
		return nil, err
	}
	if r.Topology != topology {
		return nil, fmt.Errorf("%s: records topology %q", recordPath(topology), r.Topology)
	}
	for _, e := range r.Namespaces {
		if err := checkName(e.Node, 64); err != nil {
			return nil, fmt.Errorf("%s: node %w", recordPath(topology), err)
		}
	}
	return &r, nil
}

// identity returns the device and inode of what path is (a mounted
// namespace shows the namespace's own), without following a final symlink.
func identity(path string) (dev, ino uint64, err error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return 0, 0, err
	}
	return st.Dev, st.Ino, nil
}

// matches reports whether path is, right now, the namespace the entry names.
func (e persistEntry) matches(topology string) bool {
	dev, ino, err := identity(e.path(topology))
	return err == nil && dev == e.Dev && ino == e.Ino
}

// proves checks that an opened namespace is the one the record names for
// the node.
func (r *persistRecord) proves(node string, ns *namespace) error {
	st, err := ns.stat()
	if err != nil {
		return err
	}
	for _, e := range r.Namespaces {
		if e.Node == node {
			if e.Dev == st.Dev && e.Ino == st.Ino {
				return nil
			}
			return fmt.Errorf("not the namespace nettest persisted there (inode %d, recorded %d): replaced since, and not nettest's", st.Ino, e.Ino)
		}
	}
	return fmt.Errorf("nettest's record of %s names no such node", r.Topology)
}

// Persist names every namespace of the network (nodes and LAN switches)
// under /run/netns as "nettest-<topology>.<node>", as `ip netns add` would,
// so that `ip netns exec`, `ip -n` and nsenter reach them and they outlive
// the process. Close then leaves them in place; [RemovePersisted] removes
// them. It returns the names made. Persisting twice is a no-op.
//
// Before it names anything, Persist records in [StateDir]/netns which
// namespace (by its nsfs identity) each name is for, and which process made
// it; RemovePersisted and CleanPersisted act on those records alone.
func (n *Network) Persist() (names []string, err error) {
	err = n.use("persisting "+n.name, func() (err error) {
		names, err = n.persist()
		return err
	})
	return names, err
}

func (n *Network) persist() ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.persisted) > 0 {
		return n.persistedNames(), nil
	}
	if Rootless() {
		return nil, fmt.Errorf("nettest: persisting namespaces under %s: %w: it needs root in the host's user namespace, and this process runs rootless in a user namespace of its own", NetnsDir, ErrPrivilege)
	}
	rec := &persistRecord{Topology: n.name, Owner: owner.Self()}
	for _, node := range n.nodes {
		st, err := node.ns.stat()
		if err != nil {
			return nil, fmt.Errorf("%s: persisting: %w", node.where(), err)
		}
		rec.Namespaces = append(rec.Namespaces, persistEntry{Node: node.p.name, Dev: st.Dev, Ino: st.Ino})
	}
	if _, err := os.Stat(recordPath(n.name)); err == nil {
		return nil, fmt.Errorf("nettest: persisting %s: %s exists already: is a topology of that name up? (nettest-run down %s, or pick another name)", n.name, recordPath(n.name), n.name)
	}
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return nil, privilegeError("creating "+NetnsDir, err)
	}
	if err := sharedNetnsDir(); err != nil {
		return nil, err
	}
	// The record first: a process killed halfway leaves names that the
	// record proves are nettest's, never names that nothing proves.
	if err := rec.write(); err != nil {
		return nil, err
	}
	var made []string
	for i, node := range n.nodes {
		path := rec.Namespaces[i].path(n.name)
		if err := bindNamespace(node.ns, path); err != nil {
			return nil, errors.Join(fmt.Errorf("%s: persisting: %w", node.where(), err), unmountAll(made), os.Remove(recordPath(n.name)))
		}
		made = append(made, path)
	}
	n.persisted = made
	return n.persistedNames(), nil
}

func (n *Network) persistedNames() []string {
	var names []string
	for _, p := range n.persisted {
		names = append(names, filepath.Base(p))
	}
	return names
}

// sharedNetnsDir makes NetnsDir a mount point of its own with shared
// propagation, as ip-netns(8) does before it adds a namespace. Otherwise the
// first `ip netns add` after Persist binds /run/netns over itself, with
// copies of nettest's mounts on top of them: unmounting a name then leaves
// the copy below, and the name cannot be removed ("device or resource
// busy").
func sharedNetnsDir() error {
	err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err = unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return privilegeError("making "+NetnsDir+" a shared mount point, as ip netns does", err)
	}
	return nil
}

// bindNamespace bind-mounts the namespace's file onto a new file at path.
func bindNamespace(ns *namespace, path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists already, and is not nettest's to replace: is a topology of that name up? (nettest-run down, or pick another name)", path)
		}
		return privilegeError("creating "+path, err)
	}
	f.Close()
	err = ns.withFD(func(fd netns.NsHandle) error {
		return unix.Mount(fmt.Sprintf("/proc/self/fd/%d", int(fd)), path, "none", unix.MS_BIND, "")
	})
	if err != nil {
		os.Remove(path)
		return privilegeError("bind-mounting the namespace on "+path, err)
	}
	return nil
}

// unmountAll detaches and removes persisted namespace files.
func unmountAll(paths []string) error {
	var errs []error
	for _, p := range paths {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
			continue
		}
		if err := os.Remove(p); errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("%w: a second mount of the namespace is left below a later bind mount of %s over itself (made by ip netns add on a machine where nettest had persisted namespaces before %s was a mount point); `grep %s /proc/self/mountinfo` shows them", err, NetnsDir, NetnsDir, filepath.Base(p)))
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ListPersisted returns the persisted topologies with their nodes' (and
// switches') names: those nettest recorded making whose names under
// /run/netns still hold the recorded namespaces. Namespaces that merely
// look like nettest's are not listed (see [ForeignNamespaces]).
func ListPersisted() (map[string][]string, error) {
	topos, err := recordedTopologies()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, topo := range topos {
		rec, err := readRecord(topo)
		if err != nil {
			continue
		}
		for _, e := range rec.Namespaces {
			if e.matches(topo) {
				out[topo] = append(out[topo], e.Node)
			}
		}
	}
	for _, nodes := range out {
		slices.Sort(nodes)
	}
	return out, nil
}

// recordedTopologies lists the topologies nettest holds records of.
func recordedTopologies() ([]string, error) {
	entries, err := os.ReadDir(recordDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if topo, ok := strings.CutSuffix(e.Name(), ".json"); ok && checkName(topo, 32) == nil {
			out = append(out, topo)
		}
	}
	return out, nil
}

// Skipped is something under /run/netns that a clean-up left alone, and why.
type Skipped struct {
	Name   string // the name under /run/netns
	Reason string
}

// ForeignNamespaces lists the entries under /run/netns whose names start
// with NamePrefix but that no record of nettest's proves it made: someone
// else's, whatever their name. nettest never removes them.
func ForeignNamespaces() ([]Skipped, error) {
	entries, err := os.ReadDir(NetnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ours := map[string]bool{}
	if topos, err := recordedTopologies(); err == nil {
		for _, topo := range topos {
			if rec, err := readRecord(topo); err == nil {
				for _, e := range rec.Namespaces {
					if e.matches(topo) {
						ours[PersistedName(topo, e.Node)] = true
					}
				}
			}
		}
	}
	var out []Skipped
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, NamePrefix) || ours[name] {
			continue
		}
		out = append(out, Skipped{Name: name, Reason: "no record of nettest's names this namespace (" + recordDir + "): not made by nettest, or replaced since"})
	}
	return out, nil
}

// ErrNotPersisted is returned (wrapped) by RemovePersisted for a topology
// nettest holds no record of persisting, whatever is under /run/netns.
var ErrNotPersisted = errors.New("nettest has no record of persisting it")

// RemovePersisted removes the persisted namespaces of one topology: only
// the names whose namespaces are the very ones its record names, then the
// record. The kernel destroys each namespace once no process is left inside
// it. A topology nettest has no record of is an error, whatever is under
// /run/netns.
func RemovePersisted(topology string) error {
	rec, err := readRecord(topology)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("nettest: no persisted topology %q: %w in %s (namespaces under %s with names like it were not made by nettest and are left alone)", topology, ErrNotPersisted, recordDir, NetnsDir)
	}
	if err != nil {
		return err
	}
	return rec.remove()
}

// remove unmounts the record's names that still hold its namespaces, then
// removes the record.
func (r *persistRecord) remove() error {
	var paths []string
	for _, e := range r.Namespaces {
		if e.matches(r.Topology) {
			paths = append(paths, e.path(r.Topology))
		}
	}
	if err := unmountAll(paths); err != nil {
		return err
	}
	if err := os.Remove(recordPath(r.Topology)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	os.Remove(recordDir) // only if empty
	return nil
}

// CleanPersisted removes every persisted topology nettest has a record of,
// except those whose recording process still runs (a topology being used,
// or being brought up, right now), and returns the names removed. It
// returns as skipped, with the reason, those and every entry under
// /run/netns that looks like nettest's (NamePrefix) but is not proven so by
// a record: it never removes those.
func CleanPersisted() (removed []string, skipped []Skipped, err error) {
	topos, err := recordedTopologies()
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	for _, topo := range topos {
		rec, err := readRecord(topo)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if rec.Owner.Alive() && rec.Owner.PID != os.Getpid() {
			for _, e := range rec.Namespaces {
				if e.matches(topo) {
					skipped = append(skipped, Skipped{Name: PersistedName(topo, e.Node), Reason: "in use: persisted by " + rec.Owner.String() + ", which still runs"})
				}
			}
			continue
		}
		var names []string
		for _, e := range rec.Namespaces {
			if e.matches(topo) {
				names = append(names, PersistedName(topo, e.Node))
			}
		}
		if err := rec.remove(); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, names...)
	}
	foreign, err := ForeignNamespaces()
	errs = append(errs, err)
	for _, f := range foreign {
		if !slices.ContainsFunc(skipped, func(s Skipped) bool { return s.Name == f.Name }) {
			skipped = append(skipped, f)
		}
	}
	slices.Sort(removed)
	return removed, skipped, errors.Join(errs...)
}
