package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/nettestlab/nettest/internal/lab"
	"github.com/nettestlab/nettest/nettest"
)

// statusNames returns the labs status shows: those up, or the one named
// (a usage error, listing those up, when it is not).
func statusNames(args []string) ([]string, error) {
	if len(args) > 1 {
		return nil, usageError("usage: status [LAB]")
	}
	names, err := lab.UpNames()
	if err != nil || len(args) == 0 {
		return names, err
	}
	name := args[0]
	if err := lab.CheckName(name); err != nil {
		return nil, labError(err)
	}
	if !slices.Contains(names, name) {
		_, err := findState(name)
		return nil, err
	}
	return []string{name}, nil
}

// The JSON form of status (status --json); the command's help documents
// it. Keys are lower case; a list is [] rather than null.
type (
	statusOut struct {
		Labs []labStatus `json:"labs"`
	}
	labStatus struct {
		Name string `json:"name"`
		// State is "up", "incomplete", "unreachable" or "persisted".
		State   string       `json:"state"`
		By      string       `json:"by,omitempty"`
		File    string       `json:"file,omitempty"`
		Created *time.Time   `json:"created,omitempty"`
		Error   string       `json:"error,omitempty"`
		Nodes   []nodeStatus `json:"nodes"`
		Links   []linkStatus `json:"links"`
	}
	nodeStatus struct {
		Name       string        `json:"name"`
		Kind       string        `json:"kind"` // host, router, switch
		Namespace  string        `json:"namespace"`
		Interfaces []ifaceStatus `json:"interfaces"`
		Processes  []procStatus  `json:"processes"`
	}
	ifaceStatus struct {
		Name      string   `json:"name"`
		State     string   `json:"state"` // the kernel's operational state: UP, DOWN, ...
		MTU       int      `json:"mtu"`
		MAC       string   `json:"mac,omitempty"`
		Addresses []string `json:"addresses"`
	}
	procStatus struct {
		PID     int    `json:"pid"`
		Command string `json:"command"`
		Name    string `json:"name,omitempty"` // the scenario's name for it
	}
	linkStatus struct {
		Name string  `json:"name"`
		Up   bool    `json:"up"`
		A    linkEnd `json:"a"`
		B    linkEnd `json:"b"`
	}
	linkEnd struct {
		Node      string   `json:"node"`
		Interface string   `json:"interface"`
		Addresses []string `json:"addresses"`
	}
)

// statusJSON prints the labs named as one JSON object.
func statusJSON(names []string, stdout io.Writer) error {
	out := statusOut{Labs: []labStatus{}}
	procs := netnsProcesses()
	for _, name := range names {
		out.Labs = append(out.Labs, labJSON(name, procs))
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// labJSON reads one lab: its record, and the namespaces it names.
func labJSON(name string, procs map[uint64][]nsProc) labStatus {
	ls := labStatus{Name: name, Nodes: []nodeStatus{}, Links: []linkStatus{}}
	st, err := lab.Read(name)
	if err != nil {
		ls.State, ls.Error = "persisted", fmt.Sprintf("not made by nettest-run up (no state: %v)", err)
		return ls
	}
	ls.By, ls.File, ls.Created = st.By, st.File, &st.Created
	if !st.Complete {
		ls.State = "incomplete"
		if st.Owner.Alive() {
			ls.Error = fmt.Sprintf("being brought up by %s", st.Owner)
		} else {
			ls.Error = fmt.Sprintf("not fully brought up: %s ended first", st.Owner)
		}
		return ls
	}
	n, err := nettest.Attach(st.Topology, name)
	if err != nil {
		ls.State, ls.Error = "unreachable", err.Error()
		return ls
	}
	defer n.Close()
	ls.State = "up"
	ours := map[int]string{}
	for _, p := range st.Processes {
		if p.Alive() {
			ours[p.PID] = p.Name
		}
	}
	for _, node := range append(n.Nodes(), n.Switches()...) {
		ns := nodeStatus{Name: node.Name(), Kind: node.Kind().String(), Namespace: nettest.PersistedName(name, node.Name()), Interfaces: []ifaceStatus{}, Processes: []procStatus{}}
		if node.IsSwitch() {
			ns.Kind = "switch"
		}
		ifaces, err := node.KernelInterfaces()
		if err != nil && ls.Error == "" {
			ls.Error = err.Error()
		}
		for _, in := range ifaces {
			is := ifaceStatus{Name: in.Name, State: in.OperState, MTU: in.MTU, Addresses: prefixes(in.Addrs)}
			if len(in.HardwareAddr) > 0 {
				is.MAC = in.HardwareAddr.String()
			}
			ns.Interfaces = append(ns.Interfaces, is)
		}
		for _, p := range procs[nsInode(filepath.Join(nettest.NetnsDir, ns.Namespace))] {
			ns.Processes = append(ns.Processes, procStatus{PID: p.pid, Command: p.cmdline, Name: ours[p.pid]})
		}
		ls.Nodes = append(ls.Nodes, ns)
	}
	for _, l := range n.Links() {
		ls.Links = append(ls.Links, linkStatus{Name: l.Name(), Up: l.IsUp(), A: endOf(l.A()), B: endOf(l.B())})
	}
	return ls
}

func endOf(in *nettest.Interface) linkEnd {
	return linkEnd{Node: in.Node().Name(), Interface: in.Name(), Addresses: prefixes(in.Addrs())}
}

// prefixes formats addresses, without link-local ones.
func prefixes(ps []netip.Prefix) []string {
	out := []string{}
	for _, p := range ps {
		if !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p.String())
		}
	}
	return out
}
