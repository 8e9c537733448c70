package scenario

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/nettestlab/nettest/nettest"
)

// Parse-time checks and conversions of impairments, faults, firewalls, NAT
// and captures: every value the engine takes is made here, once, and every
// problem reported at its key.

// nodeOp is a firewall or NAT change to make in a node.
type nodeOp struct {
	node  string
	apply func(*nettest.Node) error
}

// nodeIfaces is a node's interfaces as the engine will name them, and the
// link or LAN each is on ("" for lo).
type nodeIfaces struct {
	names []string
	segs  []string       // index for index with names
	index map[string]int // names' indexes, for a node of many interfaces only
}

// manyIfaces is how many interfaces a node has before its nodeIfaces
// keeps an index: fewer are looked up faster than a map, in less memory.
const manyIfaces = 16

// seg returns the link or LAN an interface is on, and whether the node has it.
func (ni *nodeIfaces) seg(iface string) (string, bool) {
	if ni.index != nil {
		i, ok := ni.index[iface]
		return ni.segs[i], ok
	}
	for i := len(ni.names) - 1; i >= 0; i-- { // the last of a name twice, as the index has
		if ni.names[i] == iface {
			return ni.segs[i], true
		}
	}
	return "", false
}

// nameIfaces keeps every node's (and LAN switch's) interfaces as the
// engine's resolution names them, lo first: steps refer to interfaces, so
// the parser needs them before anything is built.
func (s *Scenario) nameIfaces(res nettest.Resolved) {
	s.ifaces = make(map[string]*nodeIfaces, len(res.Nodes))
	s.hasLoopback = map[string]bool{}
	for _, n := range res.Nodes {
		if s.ifaces[n.Name] != nil {
			continue
		}
		s.hasLoopback[n.Name] = len(n.Loopback) > 0
		ni := &nodeIfaces{names: make([]string, 1, 1+len(n.Interfaces)), segs: make([]string, 1, 1+len(n.Interfaces))}
		ni.names[0] = "lo"
		for _, in := range n.Interfaces {
			ni.names = append(ni.names, in.Name)
			ni.segs = append(ni.segs, cmp.Or(in.Link, in.LAN))
		}
		if len(ni.names) > manyIfaces {
			ni.index = make(map[string]int, len(ni.names))
			for i, name := range ni.names {
				ni.index[name] = i
			}
		}
		s.ifaces[n.Name] = ni
	}
}

// iface checks a node:iface reference; lans allows a LAN's switch as the node.
func (s *Scenario) iface(l *errList, t Text, lans bool) (node, iface string, ok bool) {
	if t.V == "" {
		return "", "", false // reported as missing
	}
	ep, err := nettest.ParseEndpoint(t.V)
	if err != nil || ep.Iface == "" {
		l.add(t.Pos, "%q: want node:iface (r1:eth0)", t.V)
		return "", "", false
	}
	node, iface = ep.Node, ep.Iface
	ni := s.ifaces[node]
	if ni == nil || !s.isNode[node] && !lans {
		l.add(t.Pos, "unknown node %q (nodes: %s)", node, listNames(s.nodes))
		return "", "", false
	}
	return node, iface, s.nodeIface(l, t.Pos, node, iface)
}

// nodeIface checks that a node has an interface.
func (s *Scenario) nodeIface(l *errList, p Pos, node, iface string) bool {
	ni := s.ifaces[node]
	if ni == nil {
		return false // an unknown node, reported already
	}
	if _, ok := ni.seg(iface); !ok {
		l.add(p, "node %s has no interface %q (it has %s)", node, iface, listNames(ni.names))
		return false
	}
	return true
}

// dirAt is where a direction's impairment is written, and how.
type dirAt struct {
	pos  Pos
	word string // "both", "a-b" or "b-a"
}

// impairments converts a link's impairments per direction. Keyed by the
// engine's fields, "AB" and "BA" (Impairments.AB, .BA), it returns where
// each is written.
func impairments(l *errList, d Directions, at At, what string) (nettest.Impairments, map[string]dirAt) {
	dirs := map[string]dirAt{}
	var imp nettest.Impairments
	switch {
	case d.Both != nil && (d.AB != nil || d.BA != nil):
		l.add(at.Of("both"), "%s: give both, or a-b and b-a, not both and a direction", what)
	case d.Both != nil:
		imp = nettest.Both(impairment(d.Both))
		dirs["AB"] = dirAt{at.Of("both"), "both"}
		dirs["BA"] = dirs["AB"]
	default:
		if d.AB != nil {
			imp.AB, dirs["AB"] = impairment(d.AB), dirAt{at.Of("a-b"), "a-b"}
		}
		if d.BA != nil {
			imp.BA, dirs["BA"] = impairment(d.BA), dirAt{at.Of("b-a"), "b-a"}
		}
	}
	return imp, dirs
}

func impairment(sp *ImpairmentSpec) nettest.Impairment {
	return nettest.Impairment{
		Delay: sp.Delay.D, Jitter: sp.Jitter.D, Loss: sp.Loss.V, LossCorrelation: sp.LossCorrelation.V,
		Duplicate: sp.Duplicate.V, Reorder: sp.Reorder.V, Corrupt: sp.Corrupt.V, Rate: sp.Rate.V, Seed: int64(sp.Seed),
	}
}

// impairDesc describes a link's impairments for a step's name.
func impairDesc(imp nettest.Impairments) string {
	if imp.AB == imp.BA {
		return "both " + imp.AB.String()
	}
	return "a-b " + imp.AB.String() + ", b-a " + imp.BA.String()
}

// checkImpairments reports what the engine would refuse in impairments
// asked of link, declared with the mechanism via: it validates a topology
// of one such link, which checks the mechanism too (Impairment.Validate
// checks an impairment alone).
func checkImpairments(l *errList, imp nettest.Impairments, via nettest.Mechanism, dirs map[string]dirAt, link Text) {
	t := nettest.Topology{
		Nodes: []nettest.NodeConfig{{Name: "a"}, {Name: "b"}},
		Links: []nettest.LinkConfig{{Name: "l", A: nettest.Endpoint{Node: "a"}, B: nettest.Endpoint{Node: "b"}, Impair: imp, ImpairVia: via}},
	}
	err := t.Validate()
	if err == nil {
		return
	}
	for _, e := range unwrapAll(err) {
		var ce *nettest.ConfigError
		if !errors.As(e, &ce) {
			l.add(link.Pos, "link %s: %v", link.V, e)
		} else if p, msg, ok := impairMessage(ce, dirs, Pos{}); ok {
			l.add(p, "%s", msg)
		} else {
			l.add(link.Pos, "link %s: %s", link.V, ce.Problem)
		}
	}
}

var mechanisms = []string{string(nettest.MechanismNetem), string(nettest.MechanismKernel), string(nettest.MechanismUserspace), string(nettest.MechanismNone)}

// parseNet reads an address or a prefix: "10.0.0.1" is 10.0.0.1/32.
func parseNet(l *errList, t Text, key string) netip.Prefix {
	if t.V == "" {
		return netip.Prefix{}
	}
	if !strings.Contains(t.V, "/") {
		a, err := netip.ParseAddr(t.V)
		if err != nil {
			l.add(t.Pos, "%s %q: not an address or a prefix (write 10.0.0.1 or 10.0.0.0/24)", key, t.V)
			return netip.Prefix{}
		}
		return netip.PrefixFrom(a, a.BitLen())
	}
	p, err := nettest.ParsePrefix(t.V)
	if err != nil {
		l.add(t.Pos, "%s: %s", key, strings.Replace(err.Error(), "address ", "prefix ", 1))
		return netip.Prefix{}
	}
	return p
}

// checkPort reports a port outside 1..65535 (0 is not given).
func checkPort(l *errList, port int, key string, at At) bool {
	if port < 0 || port > 65535 {
		l.add(at.Of(key), "%s %d: want 1 to 65535", key, port)
		return false
	}
	return true
}

// ruleKeys are the keys of a Rule's fields (ConfigError.Field).
var ruleKeys = map[string]string{
	"Direction": "direction", "Family": "family", "Proto": "proto", "SrcPort": "sport", "DstPort": "dport",
	"Src": "src", "Dst": "dst", "ICMPType": "icmp-type", "InIface": "in-iface", "OutIface": "out-iface",
}

// ruleWords words a Rule's problem for the file: the engine names the
// fields as Go does, the file by their keys. Longer names come first, so
// that SrcPort is not read as Src.
var ruleWords = strings.NewReplacer(
	"Direction", "direction", "Family", "family", "Proto", "proto", "SrcPort", "sport", "DstPort", "dport",
	"Src", "src", "Dst", "dst", "ICMPType", "icmp-type", "InIface", "in-iface", "OutIface", "out-iface",
	`(it is "")`, "(none is given)")

var directions = map[string]nettest.Direction{"input": nettest.Input, "output": nettest.Output, "forward": nettest.Forward}

var families = map[string]nettest.Family{"ipv4": nettest.IPv4, "ipv6": nettest.IPv6}

// rule converts a firewall rule of node, reporting its problems at their
// keys: the parser's own, then the engine's (Rule.Validate).
func (s *Scenario) rule(l *errList, node, verb string, r *RuleSpec, at At) nettest.Rule {
	checkEnum(l, r.Direction, "direction", "input", "output", "forward")
	checkEnum(l, r.Family, "family", "ipv4", "ipv6")
	checkEnum(l, r.Proto, "proto", "tcp", "udp", "icmp", "icmpv6")
	rl := nettest.Rule{
		Direction: directions[r.Direction.V], Family: families[r.Family.V],
		Src: parseNet(l, r.Src, "src"), Dst: parseNet(l, r.Dst, "dst"),
		SrcPort: r.SrcPort, DstPort: r.DstPort, ICMPType: r.ICMPType.V, Established: r.Established,
	}
	if slices.Contains([]string{"tcp", "udp", "icmp", "icmpv6"}, r.Proto.V) {
		rl.Proto = r.Proto.V
	}
	for _, f := range []struct {
		t   Text
		dst *string
	}{{r.InIface, &rl.InIface}, {r.OutIface, &rl.OutIface}} {
		if f.t.V != "" && s.nodeIface(l, f.t.Pos, node, f.t.V) {
			*f.dst = f.t.V
		}
	}
	if err := rl.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			var ce *nettest.ConfigError
			if !errors.As(e, &ce) {
				l.add(at.Pos, "node %s: %s: %v", node, verb, e)
				continue
			}
			p := at.Pos
			if key, ok := ruleKeys[ce.Field]; ok {
				p = at.Of(key)
			}
			l.add(p, "node %s: %s: %s", node, verb, ruleWords.Replace(ce.Problem))
		}
	}
	return rl
}

// policy converts a default policy's directions (none: all three).
func policy(l *errList, dirs StringList) []nettest.Direction {
	var out []nettest.Direction
	for _, d := range dirs {
		checkEnum(l, d, "direction", "input", "output", "forward")
		if dir, ok := directions[d.V]; ok {
			out = append(out, dir)
		}
	}
	return out
}

// firewallOp converts one firewall entry of node: verb is allow, deny,
// reject, default-deny or default-allow. It returns the change and its
// description ("deny input: tcp dport 22").
func (s *Scenario) firewallOp(l *errList, node, verb string, r *RuleSpec, at At, dirs StringList) (*nodeOp, string) {
	op := &nodeOp{node: node}
	switch verb {
	case "allow", "deny", "reject":
		rl := s.rule(l, node, verb, r, at)
		op.apply = func(n *nettest.Node) error {
			fw := n.Firewall()
			return map[string]func(nettest.Rule) error{"allow": fw.Allow, "deny": fw.Deny, "reject": fw.Reject}[verb](rl)
		}
		return op, rl.String()
	}
	ds := policy(l, dirs)
	var names []string
	for _, d := range ds {
		names = append(names, d.String())
	}
	op.apply = func(n *nettest.Node) error {
		if verb == "default-deny" {
			return n.Firewall().DefaultDeny(ds...)
		}
		return n.Firewall().DefaultAllow(ds...)
	}
	return op, strings.Join(names, ", ")
}

// snatOp converts a source NAT of node.
func snatOp(l *errList, node string, sn *SNATSpec, at At) (*nodeOp, string) {
	src := parseNet(l, sn.Src, "src")
	to, err := netip.ParseAddr(sn.To.V)
	switch {
	case sn.To.V == "":
	case err != nil:
		l.add(sn.To.Pos, "to %q: not an address", sn.To.V)
	case src.IsValid() && src.Addr().Is4() != to.Is4():
		l.add(sn.To.Pos, "to %s is %s but src %s is %s", to, nettest.FamilyOf(to), src, nettest.FamilyOf(src.Addr()))
	}
	if src.IsValid() && src != src.Masked() {
		l.add(sn.Src.Pos, "src %s: has host bits set (the prefix is %s; an address is %s)", src, src.Masked(), src.Addr())
	}
	op := &nodeOp{node: node, apply: func(n *nettest.Node) error { return n.NAT().SNAT(src, to) }}
	return op, sn.Src.V + " -> " + sn.To.V
}

// portForwardOp converts a port forward of node.
func portForwardOp(l *errList, node string, pf *PortForwardSpec, at At) (*nodeOp, string) {
	checkEnum(l, pf.Proto, "proto", "tcp", "udp")
	proto := cmp.Or(pf.Proto.V, "tcp")
	if pf.Port < 1 || pf.Port > 65535 {
		l.add(at.Of("port"), "port %d: want 1 to 65535", pf.Port)
	}
	to, err := netip.ParseAddrPort(pf.To.V)
	if err != nil {
		a, aerr := netip.ParseAddr(pf.To.V)
		if aerr != nil && pf.To.V != "" {
			l.add(pf.To.Pos, "to %q: want address:port (10.0.0.2:80, [fd00::2]:80) or an address (the same port)", pf.To.V)
		}
		to = netip.AddrPortFrom(a, 0)
	}
	op := &nodeOp{node: node, apply: func(n *nettest.Node) error { return n.NAT().PortForward(proto, pf.Port, to) }}
	return op, fmt.Sprintf("%s %d -> %s", proto, pf.Port, pf.To.V)
}

// masqueradeOp converts a masquerade out of node's iface.
func masqueradeOp(node, iface string) *nodeOp {
	return &nodeOp{node: node, apply: func(n *nettest.Node) error { return n.NAT().Masquerade(iface) }}
}

// netTopology converts the topology's firewall and NAT, in file order.
func (s *Scenario) netTopology(l *errList) {
	t := &s.Spec.Topology
	for _, nf := range t.Firewall.PerNode {
		if !s.checkNode(l, nf.Node, false) {
			continue
		}
		for _, e := range nf.Entries {
			verb, ok := one(l, e.At, setKeys(reflect.ValueOf(e)), "firewall entry")
			if !ok {
				continue
			}
			var op *nodeOp
			switch {
			case e.Allow != nil, e.Deny != nil, e.Reject != nil:
				r := cmp.Or(e.Allow, e.Deny, e.Reject)
				op, _ = s.firewallOp(l, nf.Node.V, verb, &r.RuleSpec, r.At, nil)
			default:
				p := cmp.Or(e.DefaultDeny, e.DefaultAllow)
				op, _ = s.firewallOp(l, nf.Node.V, verb, nil, p.At, p.Direction)
			}
			s.setup = append(s.setup, op)
		}
	}
	for _, nn := range t.NAT.PerNode {
		if !s.checkNode(l, nn.Node, false) {
			continue
		}
		for _, e := range nn.Entries {
			if _, ok := one(l, e.At, setKeys(reflect.ValueOf(e)), "nat entry"); !ok {
				continue
			}
			var op *nodeOp
			switch {
			case e.Masquerade != nil:
				if !s.nodeIface(l, e.Masquerade.Pos, nn.Node.V, e.Masquerade.V) {
					continue
				}
				op = masqueradeOp(nn.Node.V, e.Masquerade.V)
			case e.SNAT != nil:
				op, _ = snatOp(l, nn.Node.V, &e.SNAT.SNATSpec, e.SNAT.At)
			default:
				op, _ = portForwardOp(l, nn.Node.V, &e.PortForward.PortForwardSpec, e.PortForward.At)
			}
			s.setup = append(s.setup, op)
		}
	}
}

// one checks that a mapping of alternatives has exactly one key set, and
// returns it.
func one(l *errList, at At, keys []string, what string) (string, bool) {
	switch len(keys) {
	case 1:
		return keys[0], true
	case 0:
		l.add(at.Pos, "%s: nothing to do", what)
	default:
		l.add(at.Pos, "%s: %s: one per entry (make them separate entries)", what, strings.Join(keys, " and "))
	}
	return "", false
}
