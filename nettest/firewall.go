package nettest

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/nftrules"
)

// FirewallTable is the nftables table (family inet) that holds everything
// nettest installs in a node: the filter chains input, forward and output
// and, once NAT is used, the chains prerouting and postrouting. Tables of
// your own live next to it untouched; [Firewall.Clear] deletes this one.
const FirewallTable = nftrules.Table

// Firewall is a node's packet filter: nftables rules in the node's own
// table [FirewallTable], installed through a netlink socket opened in the
// node's namespace, never in the host's. Get one with [Node.Firewall]; it
// holds no state of its own (the kernel's ruleset is the state), so any
// number of Firewall values of a node may be used, from any goroutine.
//
// Rules are checked in the order they were added, first match wins; a
// packet no rule matches gets the chain's default policy (accept, unless
// [Firewall.DefaultDeny] said otherwise). Whatever the rules say, the node
// keeps its loopback traffic and IPv6 neighbour discovery: nettest's table
// starts with rules that accept them, without which no test could reach the
// node over IPv6 once a rule drops everything. [Firewall.Rules] lists them
// with the rest.
//
// Filtering on a LAN switch is refused: its bridge forwards frames without
// passing them through the node's IP hooks. Filter on the LAN's members.
type Firewall struct{ node *Node }

// Firewall returns the node's firewall.
func (n *Node) Firewall() *Firewall { return &Firewall{node: n} }

// Direction says which packets a [Rule] applies to, as nftables' filter
// hooks see them.
type Direction int

// Directions.
const (
	// Input: packets addressed to the node itself (the zero value).
	Input Direction = iota
	// Output: packets the node sends.
	Output
	// Forward: packets a router passes from one interface to another.
	Forward
)

// String returns "input", "output" or "forward": the name of the chain.
func (d Direction) String() string {
	switch d {
	case Input:
		return "input"
	case Output:
		return "output"
	case Forward:
		return "forward"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// Rule says which packets a firewall verdict applies to. Every field set
// must match; the zero Rule matches every packet coming into the node.
type Rule struct {
	// Direction chooses the chain: Input (the zero value), Output or Forward.
	Direction Direction
	// Family restricts the rule to IPv4 or IPv6 packets; 0 matches both.
	// Addresses and the ICMP protocols imply it.
	Family Family
	// Proto is the transport protocol: "tcp", "udp", "icmp" (IPv4),
	// "icmpv6", or "" for any.
	Proto string
	// Src and Dst match the source and destination address: a prefix, or
	// an address as a /32 or /128. The zero Prefix matches any.
	Src, Dst netip.Prefix
	// SrcPort and DstPort match a TCP or UDP port (1-65535); 0 matches any.
	SrcPort, DstPort int
	// ICMPType matches the ICMP or ICMPv6 message type (Proto "icmp" or
	// "icmpv6"), named as nftables names it: "echo-request", "echo-reply",
	// "destination-unreachable", "time-exceeded", ... (see [ICMPTypeNumber]).
	ICMPType string
	// InIface matches the interface a packet came in on (Input, Forward);
	// OutIface the one it goes out of (Output, Forward).
	InIface, OutIface string
	// Established matches only packets of connections already seen in
	// both directions, and the ICMP errors they cause (conntrack's
	// established and related states): Allow(Rule{Established: true})
	// lets the answers to the node's own connections in under DefaultDeny.
	Established bool
}

// String returns the rule's direction and what it matches in nft(8)
// syntax: "input: tcp dport 22", "forward: ip saddr 10.0.0.0/24",
// "input: every packet".
func (r Rule) String() string {
	m := r.matchText()
	if m == "" {
		m = "every packet"
	}
	return r.Direction.String() + ": " + m
}

// Validate reports every problem of the rule on its own (not against a
// node), each a [*ConfigError] naming the field: the checks Allow, Deny and
// Reject make before any kernel call, for callers that want them early.
func (r Rule) Validate() error {
	var p problems
	r.validate(&p, at("rule "+r.String()))
	return p.err()
}

// validate records the rule's problems as ConfigErrors of w, each naming
// the field at fault.
func (r Rule) validate(p *problems, w ConfigError) {
	if r.Direction < Input || r.Direction > Forward {
		p.at(w.field("Direction", int(r.Direction)), "Direction %d: want Input, Output or Forward", int(r.Direction))
	}
	if r.Family != 0 && r.Family != IPv4 && r.Family != IPv6 {
		p.at(w.field("Family", int(r.Family)), "Family %d: want 0 (both), IPv4 or IPv6", int(r.Family))
	}
	if !slices.Contains([]string{"", "tcp", "udp", "icmp", "icmpv6"}, r.Proto) {
		p.at(w.field("Proto", r.Proto), "Proto %q: want tcp, udp, icmp, icmpv6 or empty (any)", r.Proto)
	}
	for _, port := range []struct {
		field string
		v     int
	}{{"SrcPort", r.SrcPort}, {"DstPort", r.DstPort}} {
		switch {
		case port.v < 0 || port.v > 65535:
			p.at(w.field(port.field, port.v), "%s %d: want 1 to 65535 (0: any)", port.field, port.v)
		case port.v != 0 && r.Proto != "tcp" && r.Proto != "udp":
			p.at(w.field(port.field, port.v), "%s %d: ports need Proto tcp or udp (it is %q)", port.field, port.v, r.Proto)
		}
	}
	if r.ICMPType != "" {
		if f, ok := icmpFamily[r.Proto]; !ok {
			p.at(w.field("ICMPType", r.ICMPType), "ICMPType %q: needs Proto icmp or icmpv6 (it is %q)", r.ICMPType, r.Proto)
		} else if _, err := ICMPTypeNumber(f, r.ICMPType); err != nil {
			p.at(w.field("ICMPType", r.ICMPType), "ICMPType: %v", err)
		}
	}
	for _, a := range []struct {
		field string
		v     netip.Prefix
	}{{"Src", r.Src}, {"Dst", r.Dst}} {
		if a.v.IsValid() && a.v != a.v.Masked() {
			p.at(w.field(a.field, a.v), "%s %s: has host bits set (the prefix is %s; an address is %s/%d)", a.field, a.v, a.v.Masked(), a.v.Addr(), a.v.Addr().BitLen())
		}
	}
	if _, field, err := r.family(); err != nil {
		p.at(w.field(field, nil), "%v", err)
	}
	if r.InIface != "" && r.Direction == Output {
		p.at(w.field("InIface", r.InIface), "InIface %q: output packets have no input interface (use OutIface)", r.InIface)
	}
	if r.OutIface != "" && r.Direction == Input {
		p.at(w.field("OutIface", r.OutIface), "OutIface %q: input packets have no output interface (use InIface)", r.OutIface)
	}
	for _, in := range []struct{ field, v string }{{"InIface", r.InIface}, {"OutIface", r.OutIface}} {
		if len(in.v) > maxIfaceName {
			p.at(w.field(in.field, in.v), "%s %q: longer than %d bytes, so no interface has that name", in.field, in.v, maxIfaceName)
		}
	}
}

// icmpFamily is the family of each ICMP protocol.
var icmpFamily = map[string]Family{"icmp": IPv4, "icmpv6": IPv6}

// family returns the one family the rule's fields imply (0: both), or an
// error saying which fields disagree and the first of them.
func (r Rule) family() (Family, string, error) {
	var f Family
	var from, fromField string
	for _, c := range []struct {
		field, text string
		f           Family
	}{
		{"Family", "Family", r.Family},
		{"Proto", "Proto " + r.Proto, icmpFamily[r.Proto]},
		{"Src", "Src " + r.Src.String(), prefixFamily(r.Src)},
		{"Dst", "Dst " + r.Dst.String(), prefixFamily(r.Dst)},
	} {
		switch {
		case c.f == 0:
		case f == 0:
			f, from, fromField = c.f, c.text, c.field
		case c.f != f:
			return 0, fromField, fmt.Errorf("%s is %s but %s is %s", from, f, c.text, c.f)
		}
	}
	return f, "", nil
}

func prefixFamily(p netip.Prefix) Family {
	if !p.IsValid() {
		return 0
	}
	return FamilyOf(p.Addr())
}

// match returns what a valid rule matches, for nftrules to render.
func (r Rule) match() nftrules.Match {
	f, _, _ := r.family()
	return nftrules.Match{Family: int(f), Proto: r.Proto, Src: r.Src, Dst: r.Dst, SrcPort: r.SrcPort, DstPort: r.DstPort,
		ICMPType: r.ICMPType, InIface: r.InIface, OutIface: r.OutIface, Established: r.Established}
}

// matchText renders what the rule matches in nft(8) syntax; "" for every
// packet.
func (r Rule) matchText() string { return r.match().Text() }

// Allow adds a rule that accepts the packets r matches: the last rule of
// its chain, so rules added before it are checked first.
func (fw *Firewall) Allow(r Rule) error { return fw.add("Allow", r, nftrules.Accept) }

// Deny adds a rule that drops the packets r matches silently: a dial
// times out (see assertions.CannotDial with TimedOut).
func (fw *Firewall) Deny(r Rule) error { return fw.add("Deny", r, nftrules.Drop) }

// Reject adds a rule that refuses the packets r matches: TCP gets a reset,
// anything else an ICMP port unreachable, so a dial fails at once as
// refused (see assertions.CannotDial with Refused).
func (fw *Firewall) Reject(r Rule) error { return fw.add("Reject", r, nftrules.Reject) }

func (fw *Firewall) add(op string, r Rule, v nftrules.Verdict) error {
	n := fw.node
	w := fmt.Sprintf("node %s: firewall: %s(%s)", n.p.name, op, r)
	var p problems
	r.validate(&p, n.at(w))
	if err := p.err(); err != nil {
		return err
	}
	if err := fw.checkIfaces(w, map[string]string{"InIface": r.InIface, "OutIface": r.OutIface}); err != nil {
		return err
	}
	exprs, text, err := nftrules.Rule(r.match(), v)
	if err != nil {
		return n.problem(n.at(w), err.Error())
	}
	return n.nft(w, func(c *nftables.Conn) error {
		return nftrules.Add(c, r.Direction.String(), exprs, text)
	})
}

// checkIfaces refuses a switch and names that are no interface of the
// node (the kernel's list, so interfaces made after Build count). fields
// maps a field's name to the interface it names ("" for none).
func (fw *Firewall) checkIfaces(w string, fields map[string]string) error {
	n := fw.node
	if n.p.isSwitch {
		return n.problem(n.at(w), fmt.Sprintf("%s is a LAN switch: its bridge forwards frames without the IP hooks nftables filters in; filter on the LAN's members", n.p.name))
	}
	var names []string
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		name := fields[field]
		if name == "" {
			continue
		}
		if names == nil {
			var err error
			if names, err = n.linkNames(); err != nil {
				return fmt.Errorf("%s: listing interfaces: %w", w, err)
			}
		}
		if !slices.Contains(names, name) {
			return n.problem(n.at(w).field(field, name), fmt.Sprintf("%s %q: node %s has no such interface (it has %s)", field, name, n.p.name, strings.Join(names, ", ")))
		}
	}
	return nil
}

// linkNames lists the node's interfaces as its kernel has them.
func (n *Node) linkNames() ([]string, error) {
	var names []string
	err := n.net.use("node "+n.p.name, func() error {
		links, err := n.ns.nl.LinkList()
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		return err
	})
	return names, err
}

// DefaultDeny sets the default policy of the given chains (every one when
// none is given) to drop: a packet no rule accepts is dropped. The node's
// loopback traffic and IPv6 neighbour discovery stay accepted. Answers are
// packets too: under DefaultDeny(Input) let those of the node's own
// connections in with Allow(Rule{Established: true}), and under
// DefaultDeny(Output) let the node's answers out with
// Allow(Rule{Direction: Output, Established: true}).
func (fw *Firewall) DefaultDeny(dirs ...Direction) error {
	return fw.policy("DefaultDeny", true, dirs)
}

// DefaultAllow sets the default policy of the given chains (every one
// when none is given) back to accept, as they start.
func (fw *Firewall) DefaultAllow(dirs ...Direction) error {
	return fw.policy("DefaultAllow", false, dirs)
}

func (fw *Firewall) policy(op string, drop bool, dirs []Direction) error {
	if len(dirs) == 0 {
		dirs = []Direction{Input, Forward, Output}
	}
	var names []string
	for _, d := range dirs {
		names = append(names, d.String())
	}
	w := fmt.Sprintf("node %s: firewall: %s(%s)", fw.node.p.name, op, strings.Join(names, ", "))
	for _, d := range dirs {
		if d < Input || d > Forward {
			return fw.node.problem(fw.node.at(w).field("Direction", int(d)), fmt.Sprintf("Direction %d: want Input, Output or Forward", int(d)))
		}
	}
	if err := fw.checkIfaces(w, nil); err != nil {
		return err
	}
	return fw.node.nft(w, func(c *nftables.Conn) error { return nftrules.SetPolicy(c, names, drop) })
}

// Raw adds a rule made of google/nftables expressions, for what Rule
// cannot say, to one of nettest's chains of the node: "input", "forward",
// "output" (filter chains), "prerouting" or "postrouting" (NAT chains,
// made on first use). The kernel checks the expressions; nettest does not.
// The table is of family inet: match the network protocol (meta nfproto)
// before loading addresses.
func (fw *Firewall) Raw(chain string, exprs ...expr.Any) error {
	n := fw.node
	w := fmt.Sprintf("node %s: firewall: Raw(%s)", n.p.name, chain)
	if !slices.Contains(nftrules.ChainNames, chain) {
		return n.problem(n.at(w).field("chain", chain), fmt.Sprintf("chain %q: want %s", chain, strings.Join(nftrules.ChainNames, ", ")))
	}
	if len(exprs) == 0 {
		return n.problem(n.at(w).field("exprs", nil), "no expressions")
	}
	if err := fw.checkIfaces(w, nil); err != nil {
		return err
	}
	text := "raw: " + nftrules.ExprKinds(exprs)
	return n.nft(w, func(c *nftables.Conn) error { return nftrules.Add(c, chain, exprs, text) })
}

// Clear removes everything nettest installed in the node's nftables — its
// filter rules, default policies and NAT — in one step: it deletes the
// table [FirewallTable]. Tables of your own stay. Clearing a node with
// nothing installed does nothing.
func (fw *Firewall) Clear() error {
	w := fmt.Sprintf("node %s: firewall: Clear", fw.node.p.name)
	return fw.node.nft(w, nftrules.DeleteTable)
}

// FirewallRule is one line of [Firewall.Rules]: a rule of nettest's table,
// or a chain's default policy.
type FirewallRule struct {
	// Chain is "input", "forward", "output", "prerouting" or "postrouting".
	Chain string
	// Handle is the kernel's handle of the rule; 0 for a policy line.
	Handle uint64
	// Text says what the rule does in nft(8) syntax: "tcp dport 22 drop",
	// "oifname eth1 masquerade", "policy drop"; nettest's own rules
	// start with "nettest:", rules added with Raw with "raw:".
	Text string
	// Packets and Bytes are the rule's counters: what it matched so far.
	Packets, Bytes uint64
}

// String returns "chain: text", and the counters of a rule:
// "input: tcp dport 22 drop (3 packets)".
func (r FirewallRule) String() string {
	if r.Handle == 0 {
		return r.Chain + ": " + r.Text
	}
	s := "s"
	if r.Packets == 1 {
		s = ""
	}
	return fmt.Sprintf("%s: %s (%d packet%s)", r.Chain, r.Text, r.Packets, s)
}

// Rules lists what nettest's table holds in the node, as the kernel has it:
// for each chain in the order input, forward, output, prerouting,
// postrouting, its policy (filter chains) and then its rules in order. An
// empty list means the node has no nettest table.
func (fw *Firewall) Rules() ([]FirewallRule, error) {
	var out []FirewallRule
	w := fmt.Sprintf("node %s: firewall: Rules", fw.node.p.name)
	err := fw.node.nft(w, func(c *nftables.Conn) error {
		lines, err := nftrules.List(c)
		for _, l := range lines {
			out = append(out, FirewallRule{Chain: l.Chain, Handle: l.Handle, Text: l.Text, Packets: l.Packets, Bytes: l.Bytes})
		}
		return err
	})
	return out, err
}

// nft runs fn with a netfilter netlink connection whose socket lives in
// the node's namespace, while the network is held open. Errors are prefixed
// with w.
func (n *Node) nft(w string, fn func(c *nftables.Conn) error) error {
	var err error
	if closed := n.net.use("node "+n.p.name, func() error {
		var c *nftables.Conn
		if c, err = n.nftConn(); err == nil {
			defer c.CloseLasting()
			err = fn(c)
		}
		return nil
	}); closed != nil {
		return closed
	}
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		err = fmt.Errorf("kernel lacks nf_tables: %w (%v)", ErrUnsupported, err)
	}
	if err != nil {
		return fmt.Errorf("nettest: %s: nftables: %w", w, err)
	}
	return nil
}

// nftConn opens a lasting netfilter connection in the node's namespace.
// The socket is made there once and used for every request, so that the
// connection never acts on another namespace.
func (n *Node) nftConn() (*nftables.Conn, error) {
	var c *nftables.Conn
	err := n.ns.withFD(func(fd netns.NsHandle) (err error) {
		if fd <= 0 {
			// WithNetNSFd(0) means "the calling thread's namespace": the host's.
			return fmt.Errorf("node %s has no namespace descriptor", n.p.name)
		}
		c, err = nftrules.Dial(int(fd))
		return err
	})
	return c, err
}

// Conn returns a netfilter netlink connection whose socket lives in the
// node's namespace, for experts: tables, sets and maps of your own next to
// nettest's, built with google/nftables. It stays bound to the node even
// after the network is closed (and keeps the namespace alive until then):
// close it with CloseLasting. After CloseLasting its requests fail: it
// never opens a socket in another namespace.
func (fw *Firewall) Conn() (*nftables.Conn, error) {
	var c *nftables.Conn
	err := fw.node.net.use("node "+fw.node.p.name, func() (err error) {
		c, err = fw.node.nftConn()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nettest: node %s: firewall: Conn: %w", fw.node.p.name, err)
	}
	return c, nil
}

// ICMPTypeNumber returns the type number of an ICMP (f IPv4) or ICMPv6
// (f IPv6) message named as nftables names it: "echo-request" is 8 for
// IPv4 and 128 for IPv6. The error lists the names it knows.
func ICMPTypeNumber(f Family, name string) (uint8, error) {
	return nftrules.ICMPTypeNumber(int(f), name)
}

// ICMPTypeName returns the nftables name of an ICMP (f IPv4) or ICMPv6
// (f IPv6) message type, or "type N" for one nettest does not name.
func ICMPTypeName(f Family, typ uint8) string { return nftrules.ICMPTypeName(int(f), typ) }
