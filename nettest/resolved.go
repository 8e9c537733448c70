package nettest

import (
	"net"
	"net/netip"
)

// Resolved is what [Build] would make of a [Topology], worked out without
// the kernel: every interface with the name, MAC and addresses (automatic
// ones included) it will have, the name of every link (generated for the
// unnamed: "a-b", "a-b-2" ...), the LANs' members and switch ports, and
// each node's routes. [Topology.Resolve] returns it.
type Resolved struct {
	// Nodes are the user's nodes (the first of each name) in order, then
	// one switch per LAN.
	Nodes []ResolvedNode
	// Links are Topology.Links, index for index.
	Links []ResolvedLink
	// LANs are Topology.LANs, index for index.
	LANs []ResolvedLAN
}

// ResolvedNode is a node, or a LAN's switch, as Build would make it.
type ResolvedNode struct {
	// Name is the node's (or the LAN's) name.
	Name string
	// Switch is true for a LAN's switch.
	Switch bool
	// Interfaces are its interfaces in the order Build makes them: a
	// node's ends of links, then of LANs; a switch's bridge br0, then a
	// port per member. The loopback is not listed.
	Interfaces []ResolvedInterface
	// Loopback are the addresses Build puts on its lo, given or automatic
	// (NodeConfig.Loopback, AutoLoopback, Auto.Loopbacks).
	Loopback []netip.Addr
	// Rules are its policy rules as given.
	Rules []PolicyRule
	// Routes are the node's routes with gateways named by node turned into
	// addresses, and the automatic ones (Auto.Routes) of a valid topology.
	Routes []Route
}

// ResolvedInterface is one interface as Build would make it.
type ResolvedInterface struct {
	// Node and Name name it: the node's (or switch's) name and the
	// interface's, given or generated (eth0, eth1 ...).
	Node, Name string
	// MAC is its hardware address, given or derived from its name.
	MAC net.HardwareAddr
	// Addrs are its addresses, given or automatic.
	Addrs []netip.Prefix
	// Link is the link it is an end of; LAN the LAN it is a member's
	// interface on, or a port or bridge of. One of them is set.
	Link, LAN string
}

// String names the interface as "node:iface".
func (i ResolvedInterface) String() string { return i.Node + ":" + i.Name }

// ResolvedLink is a link as Build would make it.
type ResolvedLink struct {
	// Name is its name, given or generated.
	Name string
	// A and B are its ends as "node:iface"; "" when the link's ends are at
	// fault (an unknown node, a node joined to itself).
	A, B string
}

// ResolvedLAN is a LAN as Build would make it.
type ResolvedLAN struct {
	// Name is the LAN's name (and its switch's).
	Name string
	// Members are the members' interfaces as "node:iface", in order; ""
	// for a member whose node is unknown.
	Members []string
}

// Resolve works the topology out as Build would, without the kernel and
// without privilege: interface names, MACs, automatic addresses, link
// names, routes. It answers as far as it can for an invalid topology too
// (an end whose node is unknown has no interface, a node whose addresses
// are at fault no routes), and returns Validate's error beside.
func (t Topology) Resolve() (Resolved, error) {
	p, errs := t.plan()
	if len(errs) == 0 && t.Auto.Routes {
		p.autoRoutes()
	}
	return p.resolved(t), errs.err()
}

// resolved turns a plan into what Resolve returns.
func (p *plan) resolved(t Topology) Resolved {
	out := Resolved{Nodes: make([]ResolvedNode, 0, len(p.nodes))}
	for _, np := range p.nodes {
		rn := ResolvedNode{Name: np.name, Switch: np.isSwitch, Loopback: np.loopback, Interfaces: make([]ResolvedInterface, 0, len(np.ifaces))}
		if !np.isSwitch && np.idx >= 0 && np.idx < len(t.Nodes) {
			rn.Rules = t.Nodes[np.idx].Rules
		}
		for _, ip := range np.ifaces {
			ri := ResolvedInterface{Node: np.name, Name: ip.name, MAC: ip.mac, Addrs: ip.addrs}
			switch {
			case ip.seg != nil && ip.seg.isLAN:
				ri.LAN = ip.seg.name
			case ip.seg != nil:
				ri.Link = ip.seg.name
			default: // a switch's bridge or port
				ri.LAN = np.name
			}
			rn.Interfaces = append(rn.Interfaces, ri)
		}
		for _, rp := range np.routes {
			rn.Routes = append(rn.Routes, rp.r)
		}
		out.Nodes = append(out.Nodes, rn)
	}
	out.Links = make([]ResolvedLink, len(t.Links))
	for i, name := range p.linkNames {
		out.Links[i].Name = name
	}
	for _, lp := range p.links {
		if lp.idx >= 0 {
			out.Links[lp.idx].A, out.Links[lp.idx].B = lp.a.String(), lp.b.String()
		}
	}
	out.LANs = make([]ResolvedLAN, len(t.LANs))
	for i, l := range t.LANs {
		out.LANs[i] = ResolvedLAN{Name: l.Name, Members: make([]string, len(l.Members))}
	}
	for _, seg := range p.segs {
		if seg.isLAN {
			for _, ip := range seg.ends {
				out.LANs[seg.idx].Members[ip.end] = ip.String()
			}
		}
	}
	return out
}
