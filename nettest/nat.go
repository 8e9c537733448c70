package nettest

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
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
		return &ConfigError{Where: w, Problem: "no interface: name the one the packets leave through"}
	}
	if err := n.Firewall().checkIfaces(w, map[string]string{"outIface": outIface}); err != nil {
		return err
	}
	exprs := append(ifaceMatch(expr.MetaKeyOIFNAME, outIface), &expr.Counter{}, &expr.Masq{})
	return t.add(w, "postrouting", exprs, "oifname "+outIface+" masquerade")
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
		p.add(w, "src: no prefix (give one, or an address as a /32 or /128)")
	case src != src.Masked():
		p.add(w, "src %s: has host bits set (the prefix is %s; an address is %s/%d)", src, src.Masked(), src.Addr(), src.Addr().BitLen())
	}
	if !to.IsValid() {
		p.add(w, "to: no address")
	}
	if src.IsValid() && to.IsValid() && FamilyOf(src.Addr()) != FamilyOf(to) {
		p.add(w, "src %s is %s but to %s is %s", src, FamilyOf(src.Addr()), to, FamilyOf(to))
	}
	if err := p.err(); err != nil {
		return err
	}
	if err := n.Firewall().checkIfaces(w, nil); err != nil {
		return err
	}
	f := FamilyOf(to)
	exprs := nfproto(f)
	if src.Bits() > 0 {
		exprs = append(exprs, addrMatch(src, true)...)
	}
	exprs = append(exprs, &expr.Counter{},
		&expr.Immediate{Register: 1, Data: to.AsSlice()},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: natFamily(f), RegAddrMin: 1},
	)
	text := fmt.Sprintf("%s saddr %s snat %s to %s", ipKeyword(f), prefixText(src), ipKeyword(f), to)
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
		p.add(w, "proto %q: want tcp or udp", proto)
	}
	if port < 1 || port > 65535 {
		p.add(w, "port %d: want 1 to 65535", port)
	}
	if !to.Addr().IsValid() {
		p.add(w, "to: no address")
	} else if n.p.kind != Router && !slices.ContainsFunc(n.Addrs(), func(a netip.Prefix) bool { return a.Addr() == to.Addr() }) {
		p.add(w, "node %s is a host, which forwards nothing: a port forward to %s needs a router (or one of the node's own addresses)", n.p.name, to.Addr())
	}
	if err := p.err(); err != nil {
		return err
	}
	if err := n.Firewall().checkIfaces(w, nil); err != nil {
		return err
	}
	f := FamilyOf(to.Addr())
	toPort := cmp.Or(to.Port(), uint16(port))
	exprs := append(nfproto(f),
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	)
	exprs = append(exprs, l4proto(protoNumbers[proto])...)
	exprs = append(exprs, portMatch(2, port)...)
	exprs = append(exprs, &expr.Counter{},
		&expr.Immediate{Register: 1, Data: to.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(toPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: natFamily(f), RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
	text := fmt.Sprintf("fib daddr type local %s dport %d dnat %s to %s", proto, port, ipKeyword(f), netip.AddrPortFrom(to.Addr(), toPort))
	return t.add(w, "prerouting", exprs, text)
}

func natFamily(f Family) uint32 {
	if f == IPv6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

// add appends a rule to one of nettest's NAT chains, made if needed.
func (t *NAT) add(w, chain string, exprs []expr.Any, text string) error {
	return t.node.nft(w, func(c *nftables.Conn) error {
		tb, err := ensureTable(c)
		if err != nil {
			return err
		}
		ch := c.AddChain(natChain(tb, chain))
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: exprs, UserData: comment(text)})
		return c.Flush()
	})
}

// Clear removes the node's NAT rules, and its NAT chains, leaving its
// filter rules. Clearing a node without NAT does nothing.
func (t *NAT) Clear() error {
	w := fmt.Sprintf("node %s: NAT: Clear", t.node.p.name)
	return t.node.nft(w, func(c *nftables.Conn) error {
		tb := &nftables.Table{Family: nftables.TableFamilyINet, Name: FirewallTable}
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
		if err != nil {
			return err
		}
		for _, ch := range chains {
			if ch.Table.Name == FirewallTable && natChain(tb, ch.Name) != nil {
				c.FlushChain(ch)
				c.DelChain(ch)
			}
		}
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		return nil
	})
}
