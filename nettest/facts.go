package nettest

import (
	"net/netip"
	"slices"
)

// NodeFacts are what a daemon's configuration template is given (see
// DaemonSpec): the node's name, router-id, interfaces and neighbours, as
// the topology has them. In a text/template:
//
//	hostname {{.Name}}
//	router ospf
//	 ospf router-id {{.RouterID}}
//	{{range .Interfaces}}{{range .IPv4}} network {{.Masked}} area 0
//	{{end}}{{end}}
type NodeFacts struct {
	// Name is the node's name.
	Name string
	// RouterID is the node's router-id: its IPv4 loopback address
	// ([Node.RouterID]) when it has one, else its lowest IPv4 address (the
	// zero Addr for a node without one).
	RouterID netip.Addr
	// Interfaces are the node's interfaces, in the topology's order.
	Interfaces []InterfaceFacts
	// Neighbors are the nodes on the other end of its links (through a
	// switch: every other node on the switch), one entry per interface
	// facing them.
	Neighbors []NeighborFacts
	// Vars are the caller's own values (an AS number, say), as given to
	// the daemon.
	Vars map[string]string
}

// InterfaceFacts describe one interface of a node.
type InterfaceFacts struct {
	// Name is the interface's name in the node ("eth0").
	Name string
	// Addrs are its addresses with their prefix length; IPv4 and IPv6
	// the same, of one family. Prefix.Masked() gives the subnet.
	Addrs, IPv4, IPv6 []netip.Prefix
}

// NeighborFacts describe a neighbour: a node reached over one of this
// node's interfaces.
type NeighborFacts struct {
	// Node is the neighbour's name; Interface is its interface facing this
	// node, Local this node's interface facing it.
	Node, Interface, Local string
	// IPv4 and IPv6 are the neighbour's first address of each family on
	// that interface (the zero Addr when it has none): the address a BGP
	// session is made to.
	IPv4, IPv6 netip.Addr
	// RouterID is the neighbour's router-id (see NodeFacts.RouterID).
	RouterID netip.Addr
}

// Facts returns the node's facts, as a daemon's configuration template
// sees them (vars are the template's .Vars).
func (n *Node) Facts(vars map[string]string) NodeFacts {
	f := NodeFacts{Name: n.p.name, RouterID: n.routerID(), Vars: vars}
	for _, in := range n.ifaces {
		if in.link == nil {
			continue // a switch's bridge
		}
		inf := InterfaceFacts{Name: in.p.name, Addrs: in.Addrs()}
		for _, a := range inf.Addrs {
			if a.Addr().Is4() {
				inf.IPv4 = append(inf.IPv4, a)
			} else {
				inf.IPv6 = append(inf.IPv6, a)
			}
		}
		f.Interfaces = append(f.Interfaces, inf)
		for _, peer := range neighbours(in) {
			nb := NeighborFacts{Node: peer.node.p.name, Interface: peer.p.name, Local: in.p.name, RouterID: peer.node.routerID()}
			nb.IPv4, _ = peer.Addr(IPv4)
			nb.IPv6, _ = peer.Addr(IPv6)
			f.Neighbors = append(f.Neighbors, nb)
		}
	}
	return f
}

// neighbours returns the interfaces of other nodes that in reaches in one
// hop: its veth peer, or through a switch every other port's peer.
func neighbours(in *Interface) []*Interface {
	peer := in.Peer()
	if peer == nil {
		return nil
	}
	if !peer.node.p.isSwitch {
		return []*Interface{peer}
	}
	var out []*Interface
	for _, port := range peer.node.ifaces {
		if p := port.Peer(); port != peer && p != nil && !p.node.p.isSwitch {
			out = append(out, p)
		}
	}
	return out
}

// routerID is the node's router-id, as daemons' templates are given it:
// its IPv4 loopback address, else the lowest of its IPv4 addresses.
func (n *Node) routerID() netip.Addr {
	if id, err := n.RouterID(); err == nil {
		return id
	}
	var ids []netip.Addr
	for _, a := range n.Addrs() {
		if a.Addr().Is4() {
			ids = append(ids, a.Addr())
		}
	}
	if len(ids) == 0 {
		return netip.Addr{}
	}
	return slices.MinFunc(ids, netip.Addr.Compare)
}
