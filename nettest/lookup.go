package nettest

import (
	"fmt"
	"net/netip"
	"strings"
)

// Target is what a reference names in a live network; [Network.Lookup]
// returns it. Exactly one of Node, Link, Addr and Prefix is set (with
// Interface too for "node:iface").
type Target struct {
	// Ref is the reference as given.
	Ref string
	// Node is the node (or LAN switch) named by "h2" or "h2:eth0".
	Node *Node
	// Interface is the interface named by "h2:eth0"; nil for "h2".
	Interface *Interface
	// Loopback is true for "r1:lo": the node's loopback addresses (see
	// NodeConfig.Loopback). Node is set, Interface is nil.
	Loopback bool
	// Link is the link named by its name ("r1-r2", or the Name in its
	// LinkConfig).
	Link *Link
	// Addr is an address literal ("198.18.0.14", "fd00::1"), unmapped.
	Addr netip.Addr
	// Prefix is a prefix literal ("198.18.4.0/24"), masked.
	Prefix netip.Prefix
}

// Lookup resolves a reference the way every API of nettest and its
// companion packages (Assign, assertions, scenarios) reads one:
//
//	h2                  a node, or a LAN's switch, by name
//	h2:eth0             an interface of a node (Node and Interface are set)
//	r1:lo               a node's loopback addresses (Node and Loopback are set)
//	r1-r2               a link, by its name (a node of the same name wins)
//	198.18.0.14, fd00::1  an address literal
//	198.18.4.0/24       a prefix literal
//
// An unknown name fails with the names the network has.
func (n *Network) Lookup(ref string) (Target, error) {
	t := Target{Ref: ref}
	if a, err := netip.ParseAddr(ref); err == nil {
		t.Addr = a.Unmap()
		return t, nil
	}
	if p, err := netip.ParsePrefix(ref); err == nil {
		t.Prefix = p.Masked()
		return t, nil
	}
	if nodeName, iface, ok := strings.Cut(ref, ":"); ok {
		node, err := n.Node(nodeName)
		if err != nil {
			return Target{}, err
		}
		if iface == "lo" {
			if len(node.p.loopback) == 0 {
				return Target{}, fmt.Errorf("nettest: node %s has no loopback address (give it one: NodeConfig.Loopback or AutoLoopback, Builder.Loopback, a scenario's loopback: key)", nodeName)
			}
			t.Node, t.Loopback = node, true
			return t, nil
		}
		in, err := node.Interface(iface)
		if err != nil {
			return Target{}, err
		}
		t.Node, t.Interface = node, in
		return t, nil
	}
	if node := n.byName[ref]; node != nil {
		t.Node = node
		return t, nil
	}
	if l := n.linkByID[ref]; l != nil {
		t.Link = l
		return t, nil
	}
	_, err := n.Node(ref)
	return Target{}, err
}

// Addrs returns the addresses the target has: a node's (interfaces in
// order), an interface's, a loopback's, or the literal; none for a link.
func (t Target) Addrs() []netip.Addr {
	var prefixes []netip.Prefix
	switch {
	case t.Addr.IsValid():
		return []netip.Addr{t.Addr}
	case t.Prefix.IsValid():
		return []netip.Addr{t.Prefix.Addr()}
	case t.Loopback:
		return t.Node.Loopback()
	case t.Interface != nil:
		prefixes = t.Interface.Addrs()
	case t.Node != nil:
		prefixes = t.Node.Addrs()
	}
	var out []netip.Addr
	for _, p := range prefixes {
		out = append(out, p.Addr())
	}
	return out
}

// String returns the reference.
func (t Target) String() string { return t.Ref }

// what names the kind of thing the target is, for errors.
func (t Target) what() string {
	switch {
	case t.Loopback:
		return "a loopback"
	case t.Interface != nil:
		return "an interface"
	case t.Node != nil:
		return "a node"
	case t.Link != nil:
		return "a link"
	case t.Addr.IsValid():
		return "an address"
	}
	return "a prefix"
}

// lookupNode resolves "node", "node:iface" or "node:lo" (what
// Network.Addr takes).
func (n *Network) lookupNode(ref string) (Target, error) {
	t, err := n.Lookup(ref)
	if err == nil && t.Node == nil {
		err = fmt.Errorf("nettest: %q is %s: want node or node:iface", ref, t.what())
	}
	return t, err
}
