package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
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

// The JSON form of status (status --json); the command's help and
// docs/lab-status.schema.json document it. Keys are lower case; a list is
// [] rather than null.
type (
	statusOut struct {
		Labs []labStatus `json:"labs"`
	}
	labStatus struct {
		Name string `json:"name"`
		// State is "up", "incomplete", "gone", "unreachable" or
		// "persisted".
		State      string            `json:"state"`
		By         string            `json:"by,omitempty"`
		File       string            `json:"file,omitempty"`
		Created    *time.Time        `json:"created,omitempty"`
		Supervisor *supervisorStatus `json:"supervisor,omitempty"`
		Error      string            `json:"error,omitempty"`
		Nodes      []nodeStatus      `json:"nodes"`
		Links      []linkStatus      `json:"links"`
		Partitions []partitionStatus `json:"partitions"`
	}
	supervisorStatus struct {
		PID    int    `json:"pid"`
		Alive  bool   `json:"alive"`
		Log    string `json:"log"`
		Socket string `json:"socket"`
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
		Name string `json:"name"`
		Up   bool   `json:"up"`
		// State is "up", "down" or "flapping".
		State string `json:"state"`
		// Mechanism is how its impairments are made: none, netem,
		// tbf+nftables, userspace.
		Mechanism  string           `json:"mechanism"`
		Impairment impairmentStatus `json:"impairment"`
		A          linkEnd          `json:"a"`
		B          linkEnd          `json:"b"`
	}
	// impairmentStatus is a link's impairment each way, in netem's words
	// ("delay 20ms loss 1%"); "" for none.
	impairmentStatus struct {
		AB string `json:"a-b"`
		BA string `json:"b-a"`
	}
	linkEnd struct {
		Node      string   `json:"node"`
		Interface string   `json:"interface"`
		Addresses []string `json:"addresses"`
	}
	partitionStatus struct {
		Name  string   `json:"name"`
		Cut   string   `json:"cut"`   // what it cut off
		Links []string `json:"links"` // the links it set down
	}
)

// labStatusFor reads one lab: from its supervisor when it has one, else
// from its record and the namespaces it names.
func labStatusFor(name string, procs func() map[uint64][]nsProc) labStatus {
	ls := labStatus{Name: name, Nodes: []nodeStatus{}, Links: []linkStatus{}, Partitions: []partitionStatus{}}
	st, err := lab.Read(name)
	if err != nil {
		ls.State, ls.Error = "persisted", fmt.Sprintf("not made by nettest-run up (no state: %v)", err)
		return ls
	}
	base := func(ls labStatus) labStatus {
		ls.Name, ls.By, ls.File, ls.Created = name, st.By, st.File, &st.Created
		if st.Supervised {
			ls.Supervisor = &supervisorStatus{PID: st.Owner.PID, Alive: st.Owner.Alive(), Log: lab.Log(name), Socket: lab.Socket(name)}
		}
		return ls
	}
	ls = base(ls)
	switch {
	case !st.Complete:
		ls.State = "incomplete"
		if st.Owner.Alive() {
			ls.Error = fmt.Sprintf("being brought up by %s", st.Owner)
		} else {
			ls.Error = fmt.Sprintf("not fully brought up: %s ended first", st.Owner)
		}
		return ls
	case st.Gone():
		ls.State, ls.Error = "gone", goneError{st}.Error()
		return ls
	case st.Supervised:
		resp, err := ask(st, request{Op: "status"})
		if err != nil || resp.Status == nil {
			ls.State, ls.Error = "unreachable", fmt.Sprint(err)
			return ls
		}
		return base(*resp.Status)
	}
	n, err := nettest.Attach(st.Topology, name)
	if err != nil {
		ls.State, ls.Error = "unreachable", err.Error()
		return ls
	}
	defer n.Close()
	return base(labStatusOf(st, n, procs(), nil))
}

// labStatusOf reads a lab that is up through its network: the nodes'
// interfaces as their kernels have them, the processes in their
// namespaces, the links as the network keeps them; live, if not nil,
// overrides a link's state ("flapping").
func labStatusOf(st *lab.State, n *nettest.Network, procs map[uint64][]nsProc, live func(*nettest.Link) string) labStatus {
	ls := labStatus{Name: st.Name, State: "up", Nodes: []nodeStatus{}, Links: []linkStatus{}, Partitions: []partitionStatus{}}
	ours := map[int]string{}
	for _, p := range st.Processes {
		if p.Alive() {
			ours[p.PID] = p.Name
		}
	}
	for _, node := range append(n.Nodes(), n.Switches()...) {
		ns := nodeStatus{Name: node.Name(), Kind: node.Kind().String(), Namespace: nettest.PersistedName(st.Name, node.Name()), Interfaces: []ifaceStatus{}, Processes: []procStatus{}}
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
		state := "down"
		if l.IsUp() {
			state = "up"
		}
		if live != nil {
			if s := live(l); s != "" {
				state = s
			}
		}
		imp := l.Impairments()
		ls.Links = append(ls.Links, linkStatus{Name: l.Name(), Up: l.IsUp(), State: state, Mechanism: string(l.Mechanism()),
			Impairment: impairmentStatus{AB: describe(imp.AB), BA: describe(imp.BA)}, A: endOf(l.A()), B: endOf(l.B())})
	}
	return ls
}

// describe says an impairment in netem's words, "" for none.
func describe(i nettest.Impairment) string {
	if i.IsZero() {
		return ""
	}
	return i.String()
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

// statusJSON prints the labs named as one JSON object.
func statusJSON(names []string, stdout io.Writer) error {
	out := statusOut{Labs: []labStatus{}}
	procs := cachedProcs()
	for _, name := range names {
		out.Labs = append(out.Labs, labStatusFor(name, procs))
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// cachedProcs lists the processes by network namespace once, when first
// asked (a supervised lab's supervisor lists its own).
func cachedProcs() func() map[uint64][]nsProc {
	var procs map[uint64][]nsProc
	return func() map[uint64][]nsProc {
		if procs == nil {
			procs = netnsProcesses()
		}
		return procs
	}
}

// statusText prints one lab as status does.
func statusText(w io.Writer, ls labStatus) {
	if ls.State == "persisted" {
		persisted, _ := nettest.ListPersisted()
		fmt.Fprintf(w, "%s: namespaces %s, %s\n\n", ls.Name, strings.Join(persisted[ls.Name], ", "), ls.Error)
		return
	}
	fmt.Fprintf(w, "%s (%s %s, since %s)\n", ls.Name, ls.By, ls.File, ls.Created.Format(time.DateTime))
	switch ls.State {
	case "incomplete":
		if strings.HasPrefix(ls.Error, "being") {
			fmt.Fprintf(w, "  %s\n\n", ls.Error)
		} else {
			fmt.Fprintf(w, "  %s (nettest-run down %s, or clean, removes what it left)\n\n", ls.Error, ls.Name)
		}
		return
	case "gone":
		fmt.Fprintf(w, "  gone: %s\n\n", strings.TrimPrefix(ls.Error, "lab "+ls.Name+" is gone: "))
		return
	case "unreachable":
		fmt.Fprintf(w, "  cannot reach it: %s\n\n", ls.Error)
		return
	}
	if s := ls.Supervisor; s != nil {
		fmt.Fprintf(w, "  supervisor pid %d, log %s\n", s.PID, s.Log)
	}
	for _, node := range ls.Nodes {
		fmt.Fprintf(w, "  %-10s %-6s %s\n", node.Name, node.Kind, node.Namespace)
		for _, in := range node.Interfaces {
			fmt.Fprintf(w, "      %s\n", strings.TrimSpace(fmt.Sprintf("%-10s %-8s %s", in.Name, in.State, strings.Join(in.Addresses, " "))))
		}
		for _, p := range node.Processes {
			mark := ""
			if p.Name != "" {
				mark = " [nettest-run: " + p.Name + "]"
			}
			fmt.Fprintf(w, "      pid %-7d %s%s\n", p.PID, p.Command, mark)
		}
	}
	if len(ls.Links) > 0 {
		fmt.Fprintf(w, "  links:\n")
		for _, l := range ls.Links {
			how := ""
			switch {
			case l.Impairment.AB != "" && l.Impairment.AB == l.Impairment.BA:
				how = l.Impairment.AB + " both ways"
			case l.Impairment.AB != "" || l.Impairment.BA != "":
				how = fmt.Sprintf("%s -> %s: %s; %s -> %s: %s", l.A.Node, l.B.Node, orNone(l.Impairment.AB), l.B.Node, l.A.Node, orNone(l.Impairment.BA))
			}
			if how != "" || l.Mechanism != string(nettest.MechanismNone) {
				how = strings.TrimSpace(how + " (" + l.Mechanism + ")")
			}
			fmt.Fprintf(w, "    %s\n", strings.TrimSpace(fmt.Sprintf("%-12s %-22s %-8s %s", l.Name, l.A.Node+":"+l.A.Interface+" - "+l.B.Node+":"+l.B.Interface, l.State, how)))
		}
	}
	for _, p := range ls.Partitions {
		fmt.Fprintf(w, "  partition %s: %s\n", p.Name, p.Cut)
	}
	fmt.Fprintln(w)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
