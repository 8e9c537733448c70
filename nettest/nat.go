package nettest

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nettestlab/nettest/internal/nftrules"
)

// NAT is a node's network address translation: nftables NAT rules in the
// chains prerouting and postrouting of the node's table [FirewallTable],
// next to its [Firewall]'s filter rules. Get one with [Node.NAT]. Like
// Firewall it holds no state of its own. NAT is for routers: a host
// forwards nothing, so only its own packets could be translated.
//
// The first NAT rule turns connection tracking on in the node (NAT needs
// it); nothing else of nettest does, unless a Rule asks for Established.
type NAT struct{ node *Node }

// NAT returns the node's address translation.
func (n *Node) NAT() *NAT { return &NAT{node: n} }

// Masquerade rewrites the source address of every packet leaving through
// outIface to that interface's address (IPv4 and IPv6), and the answers
// back: the hosts behind the node reach the far side, which sees only the
// node. nft: oifname eth1 masquerade.
func (t *NAT) Masquerade(outIface string) error {
	n := t.node
	w := fmt.Sprintf("node %s: NAT: Masquerade(%s)", n.p.name, outIface)
	if outIface == "" {
		return n.problem(n.at(w).field("outIface", nil), "no interface: name the one the packets leave through")
	}
	if err := n.Firewall().checkIfaces(w, map[string]string{"outIface": outIface}); err != nil {
		return err
	}
	exprs, text := nftrules.Masquerade(outIface)
	return t.add(w, "postrouting", exprs, text)
}

// SNAT rewrites the source address of packets from src (a prefix, or an
// address as a /32 or /128) to the address to, whatever interface they
// leave through, and the answers back. src and to are of one family. nft:
// ip saddr 10.0.0.0/24 snat ip to 198.51.100.1.
func (t *NAT) SNAT(src netip.Prefix, to netip.Addr) error {
	n := t.node
	w := fmt.Sprintf("node %s: NAT: SNAT(%s, %s)", n.p.name, src, to)
	var p problems
	switch {
	case !src.IsValid():
		p.at(n.at(w).field("src", src), "src: no prefix (give one, or an address as a /32 or /128)")
	case src != src.Masked():
		p.at(n.at(w).field("src", src), "src %s: has host bits set (the prefix is %s; an address is %s/%d)", src, src.Masked(), src.Addr(), src.Addr().BitLen())
	}
	if !to.IsValid() {
		p.at(n.at(w).field("to", to), "to: no address")
	}
	if src.IsValid() && to.IsValid() && FamilyOf(src.Addr()) != FamilyOf(to) {
		p.at(n.at(w).field("to", to), "src %s is %s but to %s is %s", src, FamilyOf(src.Addr()), to, FamilyOf(to))
	}
	if err := p.err(); err != nil {
		return err
	}
	if err := n.Firewall().checkIfaces(w, nil); err != nil {
		return err
	}
	exprs, text := nftrules.SNAT(src, to)
	return t.add(w, "postrouting", exprs, text)
}

// PortForward sends the connections (TCP) or datagrams (UDP) that reach
// port on any of the node's own addresses on to the address and port to
// (to's port 0 keeps the port), and the answers back: destination NAT.
// The source stays, so the server behind the node sees the real client.
// Packets the node itself sends are not forwarded. to's family chooses the
// family the rule applies to. nft: fib daddr type local tcp dport 8080
// dnat ip to 10.0.0.2:80.
func (t *NAT) PortForward(proto string, port int, to netip.AddrPort) error {
	n := t.node
	w := fmt.Sprintf("node %s: NAT: PortForward(%s %d -> %s)", n.p.name, proto, port, to)
	var p problems
	if proto != "tcp" && proto != "udp" {
		p.at(n.at(w).field("proto", proto), "proto %q: want tcp or udp", proto)
	}
	if port < 1 || port > 65535 {
		p.at(n.at(w).field("port", port), "port %d: want 1 to 65535", port)
	}
	if !to.Addr().IsValid() {
		p.at(n.at(w).field("to", to), "to: no address")
	} else if n.p.kind != Router && !slices.ContainsFunc(n.Addrs(), func(a netip.Prefix) bool { return a.Addr() == to.Addr() }) {
		p.at(n.at(w).field("to", to), "node %s is a host, which forwards nothing: a port forward to %s needs a router (or one of the node's own addresses)", n.p.name, to.Addr())
	}
	if err := p.err(); err != nil {
		return err
	}
	if err := n.Firewall().checkIfaces(w, nil); err != nil {
		return err
	}
	toPort := cmp.Or(to.Port(), uint16(port))
	exprs, text := nftrules.PortForward(proto, port, netip.AddrPortFrom(to.Addr(), toPort))
	return t.add(w, "prerouting", exprs, text)
}

// add appends a rule to one of nettest's NAT chains, made if needed.
func (t *NAT) add(w, chain string, exprs []expr.Any, text string) error {
	return t.node.nft(w, func(c *nftables.Conn) error { return nftrules.Add(c, chain, exprs, text) })
}

// Clear removes the node's NAT rules, and its NAT chains, leaving its
// filter rules. Clearing a node without NAT does nothing.
func (t *NAT) Clear() error {
	w := fmt.Sprintf("node %s: NAT: Clear", t.node.p.name)
	return t.node.nft(w, nftrules.ClearNAT)
}
