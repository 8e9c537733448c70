package nettest

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The kernel's routing tables with a name of their own (rt_tables).
const (
	tableDefault = 253
	tableMain    = 254
	tableLocal   = 255
)

// firstRulePriority is the priority of a node's first policy rule given
// without one; the next gets one more, and so on.
const firstRulePriority = 1000

// tableNote names a table in a message about a route: "" for main.
func tableNote(table int) string {
	if table == 0 {
		return ""
	}
	return " in table " + strconv.Itoa(table)
}

// rulePlan is one kernel rule: a PolicyRule with its node references
// turned into addresses, and its family.
type rulePlan struct {
	r        PolicyRule // as given, for messages
	family   Family
	from, to netip.Prefix
	prio     int
}

// ParsePolicyRule reads a policy-routing rule in the syntax of
// ip-rule(8), the subset nettest knows:
//
//	from 198.18.0.1 table 100
//	from 10.0.0.0/8 to 192.0.2.0/24 lookup 100 priority 500
//	from h1 table 100              (h1's addresses, each as a host prefix)
//	to r2:lo iif eth0 table 200
//	fwmark 0x10/0xff table 300
//	iif lo table main pref 10
//
// "lookup" is "table", "pref" and "preference" are "priority"; a table is
// a number or main, default or local; "from all" and "to all" select any
// address. A from or to that is not an address or a prefix names a node's
// addresses (see PolicyRule.FromNode).
func ParsePolicyRule(s string) (PolicyRule, error) {
	words := strings.Fields(s)
	fail := func(format string, args ...any) (PolicyRule, error) {
		return PolicyRule{}, fmt.Errorf("rule %q: %s", s, fmt.Sprintf(format, args...))
	}
	if len(words) == 0 {
		return fail("empty")
	}
	var r PolicyRule
	seen := map[string]bool{}
	for i := 0; i < len(words); i += 2 {
		key := words[i]
		switch key {
		case "lookup":
			key = "table"
		case "pref", "preference", "order":
			key = "priority"
		}
		if i+1 >= len(words) {
			return fail("%s needs a value", words[i])
		}
		v := words[i+1]
		if seen[key] {
			return fail("%s given twice", key)
		}
		seen[key] = true
		switch key {
		case "from", "to":
			p, node, err := parseRuleAddr(v)
			if err != nil {
				return fail("%s %s: %v", key, v, err)
			}
			if key == "from" {
				r.From, r.FromNode = p, node
			} else {
				r.To, r.ToNode = p, node
			}
		case "iif", "oif":
			if err := checkIfaceName(v); err != nil && v != "lo" {
				return fail("%s %s: %v", key, v, err)
			}
			if key == "iif" {
				r.IIF = v
			} else {
				r.OIF = v
			}
		case "fwmark":
			mark, mask, hasMask := strings.Cut(v, "/")
			m, err := strconv.ParseUint(mark, 0, 32)
			if err != nil {
				return fail("fwmark %s is not a number", mark)
			}
			r.FwMark = uint32(m)
			if hasMask {
				k, err := strconv.ParseUint(mask, 0, 32)
				if err != nil {
					return fail("fwmark mask %s is not a number", mask)
				}
				r.FwMask = uint32(k)
			}
		case "table":
			switch v {
			case "main":
				r.Table = tableMain
			case "default":
				r.Table = tableDefault
			case "local":
				r.Table = tableLocal
			default:
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil || n == 0 {
					return fail("table %s is neither a number from 1 to 4294967295 nor main, default or local", v)
				}
				r.Table = int(n)
			}
		case "priority":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return fail("priority %s is not a number from 0 to 4294967295", v)
			}
			r.Priority = int(n)
		default:
			return fail("unknown word %q (want from, to, iif, oif, fwmark, table or priority)", words[i])
		}
	}
	if r.Table == 0 {
		return fail("no table: say which table the rule looks up (table 100)")
	}
	return r, nil
}

// parseRuleAddr reads a rule's from or to: all, an address, a prefix or
// a node reference.
func parseRuleAddr(v string) (netip.Prefix, string, error) {
	switch {
	case v == "all":
		return netip.Prefix{}, "", nil
	case strings.Contains(v, "/"):
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, "", errors.New("not a prefix such as 10.0.0.0/8")
		}
		return p, "", nil
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), "", nil
	} else if looksLikeAddr(v) {
		return netip.Prefix{}, "", errors.New("not an address")
	}
	if _, err := ParseEndpoint(v); err != nil {
		return netip.Prefix{}, "", err
	}
	return netip.Prefix{}, v, nil
}

// String formats the rule in the syntax [ParsePolicyRule] reads.
func (r PolicyRule) String() string {
	var b strings.Builder
	add := func(key, v string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key + " " + v)
	}
	if r.Priority != 0 {
		add("priority", strconv.Itoa(r.Priority))
	}
	switch {
	case r.From.IsValid():
		add("from", r.From.String())
	case r.FromNode != "":
		add("from", r.FromNode)
	}
	switch {
	case r.To.IsValid():
		add("to", r.To.String())
	case r.ToNode != "":
		add("to", r.ToNode)
	}
	if r.IIF != "" {
		add("iif", r.IIF)
	}
	if r.OIF != "" {
		add("oif", r.OIF)
	}
	if r.FwMark != 0 || r.FwMask != 0 {
		m := "0x" + strconv.FormatUint(uint64(r.FwMark), 16)
		if r.FwMask != 0 {
			m += "/0x" + strconv.FormatUint(uint64(r.FwMask), 16)
		}
		add("fwmark", m)
	}
	add("table", tableName(r.Table))
	return b.String()
}

// tableName names a table as ip(8) does.
func tableName(t int) string {
	switch t {
	case tableMain:
		return "main"
	case tableDefault:
		return "default"
	case tableLocal:
		return "local"
	}
	return strconv.Itoa(t)
}

// rules resolves every node's policy rules.
func (r *resolver) rules() {
	for i, n := range r.t.Nodes {
		np := r.p.byName[n.Name]
		if np == nil || np.isSwitch || np.idx != i {
			continue
		}
		for k, given := range n.Rules {
			w := nodeAt(i, n.Name).in("rule "+given.String()).field("Rules", given)
			w.PolicyRule = k
			rps, err := r.p.resolveRule(np, given, k)
			if err != nil {
				r.errs.at(w, "%v", err)
				continue
			}
			np.rules = append(np.rules, rps...)
		}
	}
}

// resolveRule checks a rule of np's (the k-th) and expands it into kernel
// rules: one per pair of source and destination of the same family.
func (p *plan) resolveRule(np *nodePlan, r PolicyRule, k int) ([]*rulePlan, error) {
	switch {
	case r.Table <= 0 || int64(r.Table) > 1<<32-1:
		return nil, fmt.Errorf("table %d is outside 1..4294967295 (254 is main)", r.Table)
	case r.Priority < 0 || int64(r.Priority) > 1<<32-1:
		return nil, fmt.Errorf("priority %d is outside 0..4294967295", r.Priority)
	case r.Family != 0 && r.Family != IPv4 && r.Family != IPv6:
		return nil, fmt.Errorf("family %d is neither IPv4 nor IPv6", int(r.Family))
	}
	for _, dev := range []struct{ key, name string }{{"iif", r.IIF}, {"oif", r.OIF}} {
		if dev.name != "" && dev.name != "lo" && np.byIface[dev.name] == nil {
			return nil, fmt.Errorf("%s %s: node %s has no such interface (it has lo, %s)", dev.key, dev.name, np.name, listNames(np.ifaceNames()))
		}
	}
	froms, err := p.ruleAddrs("from", r.From, r.FromNode)
	if err != nil {
		return nil, err
	}
	tos, err := p.ruleAddrs("to", r.To, r.ToNode)
	if err != nil {
		return nil, err
	}
	prio := r.Priority
	if prio == 0 {
		prio = firstRulePriority + k
	}
	var out []*rulePlan
	for _, f := range families {
		if r.Family != 0 && r.Family != f {
			continue
		}
		for _, from := range froms {
			if from.IsValid() && FamilyOf(from.Addr()) != f {
				continue
			}
			for _, to := range tos {
				if to.IsValid() && FamilyOf(to.Addr()) != f {
					continue
				}
				out = append(out, &rulePlan{r: r, family: f, from: from, to: to, prio: prio})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("selects no packet: its source and destination have no family in common%s", map[bool]string{true: " with family " + r.Family.String()}[r.Family != 0])
	}
	return out, nil
}

// ruleAddrs returns what a rule's from or to selects: the prefix, a
// node reference's addresses as host prefixes, or the zero Prefix (any).
func (p *plan) ruleAddrs(key string, pre netip.Prefix, ref string) ([]netip.Prefix, error) {
	switch {
	case pre.IsValid() && ref != "":
		return nil, fmt.Errorf("%s: give a prefix or a node, not both", key)
	case pre.IsValid():
		if pre.Addr().Is4In6() || pre.Addr().Zone() != "" {
			return nil, fmt.Errorf("%s %s: write an IPv4 prefix as such, without a zone", key, pre)
		}
		if pre.Masked() != pre {
			return nil, fmt.Errorf("%s %s has host bits set; did you mean %s?", key, pre, pre.Masked())
		}
		return []netip.Prefix{pre}, nil
	case ref == "":
		return []netip.Prefix{{}}, nil
	}
	addrs, err := p.refAddrs(ref)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", key, ref, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// refAddrs returns the addresses a reference names before Build: a node's
// ("h1", its interfaces'), an interface's ("h1:eth0"), a loopback's
// ("r1:lo").
func (p *plan) refAddrs(ref string) ([]netip.Addr, error) {
	name, iface, hasIface := strings.Cut(ref, ":")
	np := p.byName[name]
	if np == nil || np.isSwitch {
		return nil, fmt.Errorf("no node %q", name)
	}
	var out []netip.Addr
	switch {
	case iface == "lo":
		out = append(out, np.loopback...)
		if len(out) == 0 {
			return nil, fmt.Errorf("node %s has no loopback address", name)
		}
		return out, nil
	case hasIface && np.byIface[iface] == nil:
		return nil, fmt.Errorf("node %s has no interface %q (it has %s)", name, iface, listNames(np.ifaceNames()))
	}
	for _, ip := range np.ifaces {
		if hasIface && ip.name != iface {
			continue
		}
		for _, a := range ip.addrs {
			out = append(out, a.Addr())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no address", ref)
	}
	return out, nil
}

// netlinkRule makes the kernel's rule of a plan.
func (n *Node) netlinkRule(rp *rulePlan) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = netlinkFamily(rp.family)
	r.Priority = rp.prio
	r.Table = rp.r.Table
	if rp.from.IsValid() {
		r.Src = ipnet(rp.from)
	}
	if rp.to.IsValid() {
		r.Dst = ipnet(rp.to)
	}
	r.IifName, r.OifName = rp.r.IIF, rp.r.OIF
	if rp.r.FwMark != 0 || rp.r.FwMask != 0 {
		r.Mark = rp.r.FwMark
		if rp.r.FwMask != 0 {
			m := rp.r.FwMask
			r.Mask = &m
		}
	}
	return r
}

// addRules installs the node's policy rules.
func (n *Node) addRules() error {
	for _, rp := range n.p.rules {
		if err := n.ns.nl.RuleAdd(n.netlinkRule(rp)); err != nil {
			return fmt.Errorf("%s: rule %s (%s): %w", n.where(), rp.r, rp.family, err)
		}
	}
	return nil
}

// addLoopback puts the node's loopback addresses on its lo.
func (n *Node) addLoopback() error {
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}
	for _, a := range n.p.loopback {
		addr := &netlink.Addr{IPNet: ipnet(netip.PrefixFrom(a, a.BitLen()))}
		if a.Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := n.ns.nl.AddrAdd(lo, addr); err != nil {
			return fmt.Errorf("%s: loopback address %s: %w", n.where(), a, err)
		}
	}
	return nil
}

// Loopback returns the node's loopback addresses (on lo, given or
// automatic; see NodeConfig.Loopback), in order.
func (n *Node) Loopback() []netip.Addr { return append([]netip.Addr(nil), n.p.loopback...) }

// LoopbackAddr returns the node's first loopback address of family f.
func (n *Node) LoopbackAddr(f Family) (netip.Addr, error) {
	for _, a := range n.p.loopback {
		if FamilyOf(a) == f {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("nettest: node %s has no %s loopback address (give it one: NodeConfig.Loopback or AutoLoopback, Builder.Loopback, a scenario's loopback: key)", n.p.name, f)
}

// RouterID returns the node's router ID: its first IPv4 loopback address,
// what a routing daemon in the node takes as its router-id. The error says
// the node has none.
func (n *Node) RouterID() (netip.Addr, error) { return n.LoopbackAddr(IPv4) }
