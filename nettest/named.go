package nettest

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// NamePrefix begins the name of every network namespace nettest makes
// persistent under /run/netns: "nettest-<topology>.<node>". Names of
// topologies and nodes hold no '.', so the dot splits them unambiguously.
// [CleanPersisted] removes exactly the namespaces whose names start so.
const NamePrefix = "nettest-"

// NetnsDir is where ip-netns(8) keeps named network namespaces.
const NetnsDir = "/run/netns"

// PersistedName returns the name under /run/netns of a node's namespace.
func PersistedName(topology, node string) string {
	return NamePrefix + topology + "." + node
}

// Persist names every namespace of the network (nodes and LAN switches)
// under /run/netns as "nettest-<topology>.<node>", as `ip netns add` would,
// so that `ip netns exec`, `ip -n` and nsenter reach them and they outlive
// the process. Close then leaves them in place; [RemovePersisted] removes
// them. It returns the names made. Persisting twice is a no-op.
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
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return nil, privilegeError("creating "+NetnsDir, err)
	}
	var made []string
	for _, node := range n.nodes {
		path := filepath.Join(NetnsDir, PersistedName(n.name, node.p.name))
		if err := bindNamespace(node.ns, path); err != nil {
			return nil, errors.Join(fmt.Errorf("%s: persisting: %w", node.where(), err), unmountAll(made))
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

// bindNamespace bind-mounts the namespace's file onto a new file at path.
func bindNamespace(ns *namespace, path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists already: is a topology of that name up? (nettest-run down, or pick another name)", path)
		}
		return privilegeError("creating "+path, err)
	}
	f.Close()
	src := fmt.Sprintf("/proc/self/fd/%d", int(ns.fd))
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
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
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ListPersisted returns the persisted topologies with their nodes' (and
// switches') names, as found under /run/netns.
func ListPersisted() (map[string][]string, error) {
	entries, err := os.ReadDir(NetnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), NamePrefix)
		if !ok {
			continue
		}
		topo, node, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		out[topo] = append(out[topo], node)
	}
	for _, nodes := range out {
		slices.Sort(nodes)
	}
	return out, nil
}

// RemovePersisted removes the persisted namespaces of one topology. The
// kernel destroys each namespace once no process is left inside it.
func RemovePersisted(topology string) error {
	if msg := checkName(topology, 32); msg != "" {
		return fmt.Errorf("nettest: topology %s", msg)
	}
	all, err := ListPersisted()
	if err != nil {
		return err
	}
	nodes, ok := all[topology]
	if !ok {
		return fmt.Errorf("nettest: no persisted topology %q under %s", topology, NetnsDir)
	}
	var paths []string
	for _, node := range nodes {
		paths = append(paths, filepath.Join(NetnsDir, PersistedName(topology, node)))
	}
	return unmountAll(paths)
}

// CleanPersisted removes every namespace under /run/netns whose name starts
// with NamePrefix, and nothing else. It returns the names removed.
func CleanPersisted() ([]string, error) {
	all, err := ListPersisted()
	if err != nil {
		return nil, err
	}
	var names, paths []string
	for _, topo := range slices.Sorted(maps.Keys(all)) {
		for _, node := range all[topo] {
			name := PersistedName(topo, node)
			names = append(names, name)
			paths = append(paths, filepath.Join(NetnsDir, name))
		}
	}
	return names, unmountAll(paths)
}
