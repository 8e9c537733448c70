package nettest

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// FirewallTable is the nftables table (family inet) that holds everything
// nettest installs in a node: the filter chains input, forward and output
// and, once NAT is used, the chains prerouting and postrouting. Tables of
// your own live next to it untouched; [Firewall.Clear] deletes this one.
const FirewallTable = "nettest"

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
	return r.Direction.String() + ": " + cmp.Or(r.matchText(), "every packet")
}

// Validate reports every problem of the rule on its own (not against a
// node), each a [*ConfigError] naming the field: the checks Allow, Deny and
// Reject make before any kernel call, for callers that want them early.
func (r Rule) Validate() error {
	var p problems
	r.validate(&p, "rule "+r.String())
	return p.err()
}

func (r Rule) validate(p *problems, w string) {
	if r.Direction < Input || r.Direction > Forward {
		p.add(w, "Direction %d: want Input, Output or Forward", int(r.Direction))
	}
	if r.Family != 0 && r.Family != IPv4 && r.Family != IPv6 {
		p.add(w, "Family %d: want 0 (both), IPv4 or IPv6", int(r.Family))
	}
	if !slices.Contains([]string{"", "tcp", "udp", "icmp", "icmpv6"}, r.Proto) {
		p.add(w, "Proto %q: want tcp, udp, icmp, icmpv6 or empty (any)", r.Proto)
	}
	for _, port := range []struct {
		field string
		v     int
	}{{"SrcPort", r.SrcPort}, {"DstPort", r.DstPort}} {
		switch {
		case port.v < 0 || port.v > 65535:
			p.add(w, "%s %d: want 1 to 65535 (0: any)", port.field, port.v)
		case port.v != 0 && r.Proto != "tcp" && r.Proto != "udp":
			p.add(w, "%s %d: ports need Proto tcp or udp (it is %q)", port.field, port.v, r.Proto)
		}
	}
	if r.ICMPType != "" {
		if f, ok := icmpFamily[r.Proto]; !ok {
			p.add(w, "ICMPType %q: needs Proto icmp or icmpv6 (it is %q)", r.ICMPType, r.Proto)
		} else if _, err := ICMPTypeNumber(f, r.ICMPType); err != nil {
			p.add(w, "ICMPType: %v", err)
		}
	}
	for _, a := range []struct {
		field string
		v     netip.Prefix
	}{{"Src", r.Src}, {"Dst", r.Dst}} {
		if a.v.IsValid() && a.v != a.v.Masked() {
			p.add(w, "%s %s: has host bits set (the prefix is %s; an address is %s/%d)", a.field, a.v, a.v.Masked(), a.v.Addr(), a.v.Addr().BitLen())
		}
	}
	if _, err := r.family(); err != nil {
		p.add(w, "%v", err)
	}
	if r.InIface != "" && r.Direction == Output {
		p.add(w, "InIface %q: output packets have no input interface (use OutIface)", r.InIface)
	}
	if r.OutIface != "" && r.Direction == Input {
		p.add(w, "OutIface %q: input packets have no output interface (use InIface)", r.OutIface)
	}
	for _, in := range []struct{ field, v string }{{"InIface", r.InIface}, {"OutIface", r.OutIface}} {
		if len(in.v) > maxIfaceName {
			p.add(w, "%s %q: longer than %d bytes, so no interface has that name", in.field, in.v, maxIfaceName)
		}
	}
}

// icmpFamily is the family of each ICMP protocol.
var icmpFamily = map[string]Family{"icmp": IPv4, "icmpv6": IPv6}

// family returns the one family the rule's fields imply (0: both), or an
// error saying which fields disagree.
func (r Rule) family() (Family, error) {
	var f Family
	var from string
	for _, c := range []struct {
		field string
		f     Family
	}{
		{"Family", r.Family},
		{"Proto " + r.Proto, icmpFamily[r.Proto]},
		{"Src " + r.Src.String(), prefixFamily(r.Src)},
		{"Dst " + r.Dst.String(), prefixFamily(r.Dst)},
	} {
		switch {
		case c.f == 0:
		case f == 0:
			f, from = c.f, c.field
		case c.f != f:
			return 0, fmt.Errorf("%s is %s but %s is %s", from, f, c.field, c.f)
		}
	}
	return f, nil
}

func prefixFamily(p netip.Prefix) Family {
	if !p.IsValid() {
		return 0
	}
	return FamilyOf(p.Addr())
}

// matchText renders what the rule matches in nft(8) syntax; "" for every
// packet.
func (r Rule) matchText() string {
	var parts []string
	if r.InIface != "" {
		parts = append(parts, "iifname "+r.InIface)
	}
	if r.OutIface != "" {
		parts = append(parts, "oifname "+r.OutIface)
	}
	f, _ := r.family()
	if f != 0 && !r.Src.IsValid() && !r.Dst.IsValid() && icmpFamily[r.Proto] == 0 {
		parts = append(parts, "meta nfproto "+nfprotoName(f))
	}
	for _, a := range []struct {
		dir string
		v   netip.Prefix
	}{{"saddr", r.Src}, {"daddr", r.Dst}} {
		if a.v.IsValid() {
			parts = append(parts, fmt.Sprintf("%s %s %s", ipKeyword(FamilyOf(a.v.Addr())), a.dir, prefixText(a.v)))
		}
	}
	switch {
	case r.ICMPType != "":
		parts = append(parts, r.Proto+" type "+r.ICMPType)
	case r.SrcPort != 0 || r.DstPort != 0:
		proto := cmp.Or(r.Proto, "th") // "th": nft's transport header, whatever the protocol
		if r.SrcPort != 0 {
			parts = append(parts, fmt.Sprintf("%s sport %d", proto, r.SrcPort))
		}
		if r.DstPort != 0 {
			parts = append(parts, fmt.Sprintf("%s dport %d", proto, r.DstPort))
		}
	case r.Proto != "":
		parts = append(parts, "meta l4proto "+r.Proto)
	}
	if r.Established {
		parts = append(parts, "ct state established,related")
	}
	return strings.Join(parts, " ")
}

func nfprotoName(f Family) string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return f.String()
}

func ipKeyword(f Family) string {
	if f == IPv6 {
		return "ip6"
	}
	return "ip"
}

// prefixText writes an address without its full-length prefix, as nft does.
func prefixText(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// verdict is what a rule does with the packets it matches.
type verdict int

const (
	accept verdict = iota
	drop
	reject
)

// exprs returns the verdict's expressions and its text, for a rule on proto.
func (v verdict) exprs(proto string) ([]expr.Any, string) {
	switch v {
	case drop:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}, "drop"
	case reject:
		if proto == "tcp" {
			return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}, "reject with tcp reset"
		}
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH}}, "reject"
	}
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}, "accept"
}

// Allow adds a rule that accepts the packets r matches: the last rule of
// its chain, so rules added before it are checked first.
func (fw *Firewall) Allow(r Rule) error { return fw.add("Allow", r, accept) }

// Deny adds a rule that drops the packets r matches silently: a dial
// times out (see assertions.NoDial with TimedOut).
func (fw *Firewall) Deny(r Rule) error { return fw.add("Deny", r, drop) }

// Reject adds a rule that refuses the packets r matches: TCP gets a reset,
// anything else an ICMP port unreachable, so a dial fails at once as
// refused (see assertions.NoDial with Refused).
func (fw *Firewall) Reject(r Rule) error { return fw.add("Reject", r, reject) }

func (fw *Firewall) add(op string, r Rule, v verdict) error {
	n := fw.node
	w := fmt.Sprintf("node %s: firewall: %s(%s)", n.p.name, op, r)
	var p problems
	r.validate(&p, w)
	if err := p.err(); err != nil {
		return err
	}
	if err := fw.checkIfaces(w, map[string]string{"InIface": r.InIface, "OutIface": r.OutIface}); err != nil {
		return err
	}
	exprs, err := r.exprs()
	if err != nil {
		return &ConfigError{Where: w, Problem: err.Error()}
	}
	vx, vtext := v.exprs(r.Proto)
	exprs = append(append(exprs, &expr.Counter{}), vx...)
	text := strings.TrimSpace(r.matchText() + " " + vtext)
	return n.nft(w, func(c *nftables.Conn) error {
		t, err := ensureTable(c)
		if err != nil {
			return err
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: filterChain(t, r.Direction, nil), Exprs: exprs, UserData: comment(text)})
		return c.Flush()
	})
}

// checkIfaces refuses a switch and names that are no interface of the
// node (the kernel's list, so interfaces made after Build count). fields
// maps a field's name to the interface it names ("" for none).
func (fw *Firewall) checkIfaces(w string, fields map[string]string) error {
	n := fw.node
	if n.p.isSwitch {
		return &ConfigError{Where: w, Problem: fmt.Sprintf("%s is a LAN switch: its bridge forwards frames without the IP hooks nftables filters in; filter on the LAN's members", n.p.name)}
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
			return &ConfigError{Where: w, Problem: fmt.Sprintf("%s %q: node %s has no such interface (it has %s)", field, name, n.p.name, strings.Join(names, ", "))}
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
	return fw.policy("DefaultDeny", nftables.ChainPolicyDrop, dirs)
}

// DefaultAllow sets the default policy of the given chains (every one
// when none is given) back to accept, as they start.
func (fw *Firewall) DefaultAllow(dirs ...Direction) error {
	return fw.policy("DefaultAllow", nftables.ChainPolicyAccept, dirs)
}

func (fw *Firewall) policy(op string, policy nftables.ChainPolicy, dirs []Direction) error {
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
			return &ConfigError{Where: w, Problem: fmt.Sprintf("Direction %d: want Input, Output or Forward", int(d))}
		}
	}
	if err := fw.checkIfaces(w, nil); err != nil {
		return err
	}
	return fw.node.nft(w, func(c *nftables.Conn) error {
		t, err := ensureTable(c)
		if err != nil {
			return err
		}
		for _, d := range dirs {
			c.AddChain(filterChain(t, d, &policy))
		}
		return c.Flush()
	})
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
	if !slices.Contains(chainNames, chain) {
		return &ConfigError{Where: w, Problem: fmt.Sprintf("chain %q: want %s", chain, strings.Join(chainNames, ", "))}
	}
	if len(exprs) == 0 {
		return &ConfigError{Where: w, Problem: "no expressions"}
	}
	if err := fw.checkIfaces(w, nil); err != nil {
		return err
	}
	var kinds []string
	for _, e := range exprs {
		kinds = append(kinds, exprName(e))
	}
	text := "raw: " + strings.Join(kinds, " ")
	return n.nft(w, func(c *nftables.Conn) error {
		t, err := ensureTable(c)
		if err != nil {
			return err
		}
		ch := natChain(t, chain)
		if ch != nil {
			c.AddChain(ch)
		} else {
			ch = &nftables.Chain{Name: chain, Table: t}
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs, UserData: comment(text)})
		return c.Flush()
	})
}

// chainNames are nettest's chains, in the order Rules lists them.
var chainNames = []string{"input", "forward", "output", "prerouting", "postrouting"}

// exprName names an expression by its type: "meta", "cmp", "payload".
func exprName(e expr.Any) string {
	return strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", e), "*expr."))
}

// Clear removes everything nettest installed in the node's nftables — its
// filter rules, default policies and NAT — in one step: it deletes the
// table [FirewallTable]. Tables of your own stay. Clearing a node with
// nothing installed does nothing.
func (fw *Firewall) Clear() error {
	w := fmt.Sprintf("node %s: firewall: Clear", fw.node.p.name)
	return fw.node.nft(w, func(c *nftables.Conn) error {
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: FirewallTable})
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		return nil
	})
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
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
		if err != nil {
			return err
		}
		chains = slices.DeleteFunc(chains, func(ch *nftables.Chain) bool { return ch.Table.Name != FirewallTable })
		slices.SortStableFunc(chains, func(a, b *nftables.Chain) int {
			return cmp.Or(cmp.Compare(chainOrder(a.Name), chainOrder(b.Name)), strings.Compare(a.Name, b.Name))
		})
		for _, ch := range chains {
			if ch.Type == nftables.ChainTypeFilter && ch.Policy != nil {
				p := "accept"
				if *ch.Policy == nftables.ChainPolicyDrop {
					p = "drop"
				}
				out = append(out, FirewallRule{Chain: ch.Name, Text: "policy " + p})
			}
			rules, err := c.GetRules(ch.Table, ch)
			if err != nil {
				return fmt.Errorf("chain %s: %w", ch.Name, err)
			}
			for _, r := range rules {
				out = append(out, describeRule(ch.Name, r))
			}
		}
		return nil
	})
	return out, err
}

func chainOrder(name string) int {
	if i := slices.Index(chainNames, name); i >= 0 {
		return i
	}
	return len(chainNames)
}

// describeRule renders a rule read from the kernel.
func describeRule(chain string, r *nftables.Rule) FirewallRule {
	fr := FirewallRule{Chain: chain, Handle: r.Handle}
	if text, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok {
		fr.Text = text
	} else {
		var kinds []string
		for _, e := range r.Exprs {
			kinds = append(kinds, exprName(e))
		}
		fr.Text = "rule: " + strings.Join(kinds, " ")
	}
	for _, e := range r.Exprs {
		if c, ok := e.(*expr.Counter); ok {
			fr.Packets, fr.Bytes = c.Packets, c.Bytes
		}
	}
	return fr
}

// comment returns a rule's user data holding text, which nft(8) shows as
// the rule's comment.
func comment(text string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, text)
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
	fd := int(n.ns.fd)
	if fd <= 0 {
		// WithNetNSFd(0) means "the calling thread's namespace": the host's.
		return nil, fmt.Errorf("node %s has no namespace descriptor", n.p.name)
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting())
	if err != nil {
		return nil, err
	}
	// After CloseLasting a Conn dials a new socket for each request, in
	// the namespace of NetNS: by then fd may be closed, or reused for
	// another namespace. -1 makes such a dial fail (setns: bad file
	// descriptor); 0 would mean the calling thread's namespace.
	c.NetNS = -1
	return c, nil
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

// ensureTable creates nettest's table in the node, with its filter chains
// (policy accept) and the rules that keep loopback and IPv6 neighbour
// discovery working, unless it exists. Creation is exclusive, so two
// callers never both add those rules.
func ensureTable(c *nftables.Conn) (*nftables.Table, error) {
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: FirewallTable}
	c.CreateTable(t)
	accept := nftables.ChainPolicyAccept
	for _, d := range []Direction{Input, Forward, Output} {
		ch := c.AddChain(filterChain(t, d, &accept))
		var lo []expr.Any
		switch d {
		case Input:
			lo = ifaceMatch(expr.MetaKeyIIFNAME, "lo")
		case Output:
			lo = ifaceMatch(expr.MetaKeyOIFNAME, "lo")
		default:
			continue
		}
		for _, keep := range []struct {
			match []expr.Any
			text  string
		}{
			{lo, "nettest: loopback"},
			{neighbourDiscovery(), "nettest: IPv6 neighbour discovery (icmpv6 type nd-router-solicit to nd-neighbor-advert)"},
		} {
			exprs := append(keep.match, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictAccept})
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs, UserData: comment(keep.text)})
		}
	}
	err := c.Flush()
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, err
	}
	return t, nil
}

// filterChain returns one of nettest's filter chains; policy nil leaves it
// as it is.
func filterChain(t *nftables.Table, d Direction, policy *nftables.ChainPolicy) *nftables.Chain {
	hook := map[Direction]*nftables.ChainHook{Input: nftables.ChainHookInput, Forward: nftables.ChainHookForward, Output: nftables.ChainHookOutput}[d]
	return &nftables.Chain{Name: d.String(), Table: t, Type: nftables.ChainTypeFilter, Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: policy}
}

// natChain returns nettest's NAT chain of that name, or nil for another.
func natChain(t *nftables.Table, name string) *nftables.Chain {
	switch name {
	case "prerouting":
		return &nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest}
	case "postrouting":
		return &nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource}
	}
	return nil
}

// neighbourDiscovery matches ICMPv6 router and neighbour solicitations and
// advertisements (types 133 to 136).
func neighbourDiscovery() []expr.Any {
	return append(l4proto(unix.IPPROTO_ICMPV6),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: []byte{133}},
		&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: []byte{136}},
	)
}

// Expressions. Every match loads into register 1 and compares.

func ifaceMatch(key expr.MetaKey, name string) []expr.Any {
	data := make([]byte, unix.IFNAMSIZ)
	copy(data, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data}}
}

func nfproto(f Family) []expr.Any {
	v := byte(unix.NFPROTO_IPV4)
	if f == IPv6 {
		v = unix.NFPROTO_IPV6
	}
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{v}}}
}

func l4proto(proto byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}}}
}

// addrMatch matches the source (src) or destination address against p;
// the caller has matched the family.
func addrMatch(p netip.Prefix, src bool) []expr.Any {
	a := p.Addr()
	offset := uint32(16) // IPv4 daddr
	switch {
	case a.Is4() && src:
		offset = 12
	case a.Is6() && src:
		offset = 8
	case a.Is6():
		offset = 24
	}
	size := uint32(a.BitLen() / 8)
	out := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size}}
	if p.Bits() < a.BitLen() {
		m := make([]byte, size)
		for i := range p.Bits() {
			m[i/8] |= 0x80 >> (i % 8)
		}
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: m, Xor: make([]byte, size)})
		a = p.Masked().Addr()
	}
	return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()})
}

// portMatch matches the transport header's source (offset 0) or
// destination (offset 2) port.
func portMatch(offset uint32, port int) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(port))},
	}
}

var protoNumbers = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "icmp": unix.IPPROTO_ICMP, "icmpv6": unix.IPPROTO_ICMPV6}

// exprs returns the expressions that match what a valid rule matches.
func (r Rule) exprs() ([]expr.Any, error) {
	var out []expr.Any
	if r.InIface != "" {
		out = append(out, ifaceMatch(expr.MetaKeyIIFNAME, r.InIface)...)
	}
	if r.OutIface != "" {
		out = append(out, ifaceMatch(expr.MetaKeyOIFNAME, r.OutIface)...)
	}
	f, err := r.family()
	if err != nil {
		return nil, err
	}
	if f != 0 {
		out = append(out, nfproto(f)...)
	}
	if r.Src.IsValid() {
		out = append(out, addrMatch(r.Src, true)...)
	}
	if r.Dst.IsValid() {
		out = append(out, addrMatch(r.Dst, false)...)
	}
	if r.Proto != "" {
		out = append(out, l4proto(protoNumbers[r.Proto])...)
	}
	if r.SrcPort != 0 {
		out = append(out, portMatch(0, r.SrcPort)...)
	}
	if r.DstPort != 0 {
		out = append(out, portMatch(2, r.DstPort)...)
	}
	if r.ICMPType != "" {
		typ, err := ICMPTypeNumber(icmpFamily[r.Proto], r.ICMPType)
		if err != nil {
			return nil, err
		}
		out = append(out,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{typ}})
	}
	if r.Established {
		zero := make([]byte, 4)
		out = append(out,
			&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: zero},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: zero})
	}
	return out, nil
}

// ICMP and ICMPv6 message types by the names nftables gives them.
var icmpTypes = map[Family][]struct {
	name string
	typ  uint8
}{
	IPv4: {
		{"echo-reply", 0}, {"destination-unreachable", 3}, {"source-quench", 4}, {"redirect", 5},
		{"echo-request", 8}, {"router-advertisement", 9}, {"router-solicitation", 10},
		{"time-exceeded", 11}, {"parameter-problem", 12}, {"timestamp-request", 13}, {"timestamp-reply", 14},
	},
	IPv6: {
		{"destination-unreachable", 1}, {"packet-too-big", 2}, {"time-exceeded", 3}, {"parameter-problem", 4},
		{"echo-request", 128}, {"echo-reply", 129}, {"mld-listener-query", 130}, {"mld-listener-report", 131},
		{"mld-listener-done", 132}, {"nd-router-solicit", 133}, {"nd-router-advert", 134},
		{"nd-neighbor-solicit", 135}, {"nd-neighbor-advert", 136}, {"nd-redirect", 137}, {"mld2-listener-report", 143},
	},
}

// ICMPTypeNumber returns the type number of an ICMP (f IPv4) or ICMPv6
// (f IPv6) message named as nftables names it: "echo-request" is 8 for
// IPv4 and 128 for IPv6. The error lists the names it knows.
func ICMPTypeNumber(f Family, name string) (uint8, error) {
	var names []string
	for _, t := range icmpTypes[f] {
		if t.name == name {
			return t.typ, nil
		}
		names = append(names, t.name)
	}
	proto := "icmp"
	if f == IPv6 {
		proto = "icmpv6"
	}
	return 0, fmt.Errorf("%q is no %s type nettest knows (it knows %s)", name, proto, strings.Join(names, ", "))
}

// ICMPTypeName returns the nftables name of an ICMP (f IPv4) or ICMPv6
// (f IPv6) message type, or "type N" for one nettest does not name.
func ICMPTypeName(f Family, typ uint8) string {
	for _, t := range icmpTypes[f] {
		if t.typ == typ {
			return t.name
		}
	}
	return fmt.Sprintf("type %d", typ)
}
