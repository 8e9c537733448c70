package nettest

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// A plan is a validated Topology with everything the kernel needs made
// explicit: interface names and indexes, MACs, addresses, routes.
type plan struct {
	name   string
	nodes  []*nodePlan // user nodes in order, then one switch per LAN
	byName map[string]*nodePlan
	links  []*linkPlan // veth pairs: user links, then LAN attachments
	segs   []*segment  // one per user link and per LAN
	auto   Auto
}

type nodePlan struct {
	name     string
	kind     NodeKind
	isSwitch bool
	sysctls  [][2]string // file under /proc/sys, value; sorted by key
	ifaces   []*ifacePlan
	byIface  map[string]*ifacePlan
	routes   []*routePlan
	nextIdx  int  // next interface index to ask the kernel for
	bad      bool // one of its addresses is at fault
	pos      int  // position in plan.nodes
}

type ifacePlan struct {
	node    *nodePlan
	name    string
	index   int // asked of the kernel for primaries and bridges; learnt for peers
	mac     net.HardwareAddr
	mtu     int
	addrs   []netip.Prefix
	seg     *segment // the L3 segment; nil for switch ports and bridges
	link    *linkPlan
	bridge  bool       // the switch's bridge device
	master  *ifacePlan // the bridge a switch port belongs to
	primary bool       // created as the first end of its veth (index known in advance)
	live    *Interface // the live interface, once built
}

type linkPlan struct {
	name   string
	a, b   *ifacePlan // a is created as the primary end, in a's namespace
	mtu    int
	lan    *segment // set for a LAN member's attachment; b is then the switch port
	impair Impairments
	via    Mechanism // as asked; the one used is chosen at Build
}

type segment struct {
	name  string
	isLAN bool
	ends  []*ifacePlan // node-side interfaces, in order
	sw    *nodePlan    // the switch, for a LAN
	user  bool         // the user addressed at least one end
}

type routePlan struct {
	r      Route // as given (or generated), for messages
	family Family
	dst    netip.Prefix
	hops   []hopPlan
	metric int
	auto   bool
}

type hopPlan struct {
	via    netip.Addr
	dev    *ifacePlan
	weight int
}

// String names the interface as "node:iface".
func (i *ifacePlan) String() string { return i.node.name + ":" + i.name }

// Interfaces returns, for every node and LAN switch, the names its
// interfaces will have (generated ones included: eth0, eth1 ...; a switch
// has br0 and one port per member), in order, as Build will make them. It
// validates the topology first and needs no privilege.
func (t Topology) Interfaces() (map[string][]string, error) {
	p, err := t.resolve()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, np := range p.nodes {
		out[np.name] = np.ifaceNames()
	}
	return out, nil
}

// Validate reports every problem of the topology that can be found without
// the kernel: bad or duplicate names, unknown nodes, bad interface names,
// malformed, duplicate or overlapping addresses, unreachable gateways.
// It needs no privilege. The error joins one [*ConfigError] per problem.
func (t Topology) Validate() error {
	_, err := t.resolve()
	return err
}

func (t Topology) resolve() (*plan, error) {
	var errs problems
	p := &plan{name: t.Name, byName: map[string]*nodePlan{}, auto: t.Auto,
		links: make([]*linkPlan, 0, len(t.Links)), segs: make([]*segment, 0, len(t.Links)+len(t.LANs))}
	if t.Name != "" {
		if msg := checkName(t.Name, 32); msg != "" {
			errs.add("topology", "%s", msg)
		}
	}
	if len(t.Nodes) == 0 {
		errs.add(where("topology", t.Name), "no nodes")
	}
	// Nodes and LANs share one namespace of names.
	for i, n := range t.Nodes {
		w := nodeWhere(i, n.Name)
		if msg := checkName(n.Name, 63); msg != "" {
			errs.add(w, "%s", msg)
			continue
		}
		if p.byName[n.Name] != nil {
			errs.add(w, "duplicate node name")
			continue
		}
		if n.Kind != Host && n.Kind != Router {
			errs.add(w, "kind %d is neither Host nor Router", int(n.Kind))
		}
		np := &nodePlan{name: n.Name, kind: n.Kind, byIface: map[string]*ifacePlan{}, nextIdx: firstIndex}
		for _, k := range slices.Sorted(maps.Keys(n.Sysctls)) {
			v := n.Sysctls[k]
			path, msg := sysctlPath(k)
			if msg != "" {
				errs.add(w, "%s", msg)
				continue
			}
			if strings.ContainsAny(v, "\n\x00") {
				errs.add(w, "sysctl %s: value %q has a newline", k, v)
				continue
			}
			np.sysctls = append(np.sysctls, [2]string{path, v})
		}
		p.nodes = append(p.nodes, np)
		p.byName[n.Name] = np
	}
	lanNames := map[string]bool{}
	for i, l := range t.LANs {
		w := lanWhere(i, l.Name)
		if msg := checkName(l.Name, 63); msg != "" {
			errs.add(w, "%s", msg)
		} else if p.byName[l.Name] != nil {
			errs.add(w, "name is taken by a node; LANs and nodes share one set of names")
		} else if lanNames[l.Name] {
			errs.add(w, "duplicate LAN name")
		}
		lanNames[l.Name] = true
	}

	// Interfaces, in the order their endpoints appear: links, then LANs.
	addIface := func(w string, np *nodePlan, e Endpoint, mtu int) *ifacePlan {
		ip := &ifacePlan{node: np, name: e.Iface, mtu: mtu, mac: e.MAC}
		if e.Iface != "" {
			if msg := checkIfaceName(e.Iface); msg != "" {
				errs.add(w, "%s", msg)
			} else if np.byIface[e.Iface] != nil {
				errs.add(w, "node %s has interface %s twice", np.name, e.Iface)
			} else {
				np.byIface[e.Iface] = ip
			}
		}
		if e.MAC != nil && (len(e.MAC) != 6 || e.MAC[0]&1 == 1) {
			errs.add(w, "MAC %s is not a 6-byte unicast address", e.MAC)
		}
		np.ifaces = append(np.ifaces, ip)
		return ip
	}
	node := func(w string, e Endpoint) *nodePlan {
		if e.Node == "" {
			errs.add(w, "no node given")
			return nil
		}
		np := p.byName[e.Node]
		if np == nil {
			errs.add(w, "unknown node %q (nodes: %s)", e.Node, nodeNames(t))
		}
		return np
	}
	checkMTU := func(w string, mtu int) {
		if mtu != 0 && (mtu < 68 || mtu > 65535) {
			errs.add(w, "MTU %d is outside 68..65535", mtu)
		}
	}
	linkNames := newLinkNamer()
	for i, l := range t.Links {
		name := l.Name
		if name == "" {
			name = linkNames.generate(l.A.Node + "-" + l.B.Node)
		} else if linkNames.taken[name] {
			errs.add(linkWhere(i, l), "duplicate link name")
		}
		linkNames.taken[name] = true
		w := "link " + name
		checkMTU(w, l.MTU)
		na, nb := node(where(w, "end A"), l.A), node(where(w, "end B"), l.B)
		if na == nil || nb == nil {
			// Still report what is wrong with the ends' names.
			for _, e := range []Endpoint{l.A, l.B} {
				if msg := checkIfaceName(e.Iface); e.Iface != "" && msg != "" {
					errs.add(where(w, "end "+e.String()), "%s", msg)
				}
			}
			continue
		}
		if na == nb {
			errs.add(w, "joins node %s to itself", na.name)
			continue
		}
		seg := &segment{name: name}
		lp := &linkPlan{name: name, mtu: l.MTU, impair: l.Impair, via: l.ImpairVia}
		for dir, imp := range map[string]Impairment{"A->B": l.Impair.AB, "B->A": l.Impair.BA} {
			if msg := imp.validate(); msg != "" {
				errs.add(w, "impairment %s: %s", dir, msg)
			}
		}
		if _, msg := chooseMechanism(l.ImpairVia, l.Impair, true); msg != "" && l.ImpairVia != MechanismNetem {
			errs.add(w, "%s", msg)
		}
		lp.a = addIface(where(w, "end "+l.A.String()), na, l.A, l.MTU)
		lp.b = addIface(where(w, "end "+l.B.String()), nb, l.B, l.MTU)
		for k, e := range []Endpoint{l.A, l.B} {
			ip := []*ifacePlan{lp.a, lp.b}[k]
			ip.seg, ip.link, ip.addrs = seg, lp, e.Addrs
			seg.ends = append(seg.ends, ip)
		}
		lp.a.primary = true
		p.links = append(p.links, lp)
		p.segs = append(p.segs, seg)
	}
	for i, l := range t.LANs {
		w := lanWhere(i, l.Name)
		checkMTU(w, l.MTU)
		if len(l.Members) == 0 {
			errs.add(w, "no members")
		}
		sw := &nodePlan{name: l.Name, isSwitch: true, byIface: map[string]*ifacePlan{}, nextIdx: firstIndex}
		br := &ifacePlan{node: sw, name: "br0", bridge: true, mtu: l.MTU}
		br.index = sw.alloc()
		sw.ifaces = append(sw.ifaces, br)
		sw.byIface[br.name] = br
		seg := &segment{name: l.Name, isLAN: true, sw: sw}
		for k, e := range l.Members {
			mw := where(w, "member "+e.String())
			np := node(mw, e)
			if np == nil {
				if msg := checkIfaceName(e.Iface); e.Iface != "" && msg != "" {
					errs.add(mw, "%s", msg)
				}
				continue
			}
			member := addIface(mw, np, e, l.MTU)
			member.seg, member.addrs = seg, e.Addrs
			seg.ends = append(seg.ends, member)
			port := &ifacePlan{node: sw, mtu: l.MTU, master: br, primary: true}
			port.name = e.Node
			if len(port.name) > maxIfaceName || sw.byIface[port.name] != nil {
				port.name = "port" + strconv.Itoa(k)
			}
			sw.byIface[port.name] = port
			sw.ifaces = append(sw.ifaces, port)
			lp := &linkPlan{name: l.Name + ":" + port.name, a: port, b: member, mtu: l.MTU, lan: seg}
			port.link, member.link = lp, lp
			p.links = append(p.links, lp)
		}
		p.segs = append(p.segs, seg)
		p.nodes = append(p.nodes, sw)
		if lanNames[l.Name] && p.byName[l.Name] == nil {
			p.byName[l.Name] = sw
		}
	}
	// Generated interface names, MACs and the indexes we ask the kernel for.
	for _, np := range p.nodes {
		n := 0
		for _, ip := range np.ifaces {
			if ip.name == "" {
				for np.byIface["eth"+strconv.Itoa(n)] != nil {
					n++
				}
				ip.name = "eth" + strconv.Itoa(n)
				np.byIface[ip.name] = ip
			}
			if ip.mac == nil {
				ip.mac = derivedMAC(np.name + "/" + ip.name)
			}
			if ip.primary {
				ip.index = np.alloc()
			}
		}
	}
	for _, lp := range p.links {
		if lp.lan == nil && bytes.Equal(lp.a.mac, lp.b.mac) {
			errs.add("link "+lp.name, "both ends have MAC %s", lp.a.mac)
		}
	}
	for _, seg := range p.segs {
		if seg.isLAN {
			seen := map[string]*ifacePlan{}
			for _, ip := range seg.ends {
				if prev := seen[ip.mac.String()]; prev != nil {
					errs.add("lan "+seg.name, "%s and %s have the same MAC %s", prev, ip, ip.mac)
				}
				seen[ip.mac.String()] = ip
			}
		}
	}

	p.checkAddrs(&errs)
	p.autoAddress(&errs)
	p.checkMTUs(&errs)
	// Routes are checked even when something else is wrong, so that one
	// run reports every problem; a node whose addresses are at fault is
	// skipped, as its routes would draw errors that are not theirs.
	routed := map[string]bool{} // the first node of each name only
	for i, n := range t.Nodes {
		np := p.byName[n.Name]
		if np == nil || np.isSwitch || np.bad || routed[n.Name] {
			continue
		}
		routed[n.Name] = true
		seen := map[string]bool{}
		for _, given := range n.Routes {
			w := where(nodeWhere(i, n.Name), "route "+given.String())
			routes, msg := p.expandViaNode(np, given)
			if msg != "" {
				errs.add(w, "%s", msg)
				continue
			}
			for _, r := range routes {
				rp, msg := np.resolveRoute(r)
				if msg != "" {
					errs.add(w, "%s", msg)
					continue
				}
				key := rp.dst.String() + "/" + strconv.Itoa(rp.metric)
				if seen[key] {
					errs.add(w, "duplicate route: another route to %s with metric %d", rp.dst, rp.metric)
					continue
				}
				seen[key] = true
				np.routes = append(np.routes, rp)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	if t.Auto.Routes {
		p.autoRoutes()
	}
	return p, nil
}

// firstIndex is the first interface index nettest asks the kernel for. The
// kernel numbers the interfaces it names itself (veth peers) from 2 up, and
// the two ends of a veth must not share an index: when they do, the kernel's
// linkwatch takes the carrier change for a non-urgent event and delays it by
// up to a second. Starting high keeps the two ranges apart.
const firstIndex = 1000

// hasIPv6 reports whether any interface has an IPv6 address.
func (p *plan) hasIPv6() bool {
	for _, seg := range p.segs {
		for _, ip := range seg.ends {
			for _, a := range ip.addrs {
				if a.Addr().Is6() {
					return true
				}
			}
		}
	}
	return false
}

func (np *nodePlan) alloc() int {
	i := np.nextIdx
	np.nextIdx++
	return i
}

func nodeWhere(i int, name string) string {
	if name == "" {
		return "node #" + strconv.Itoa(i+1)
	}
	return "node " + name
}

func lanWhere(i int, name string) string {
	if name == "" {
		return "lan #" + strconv.Itoa(i+1)
	}
	return "lan " + name
}

func linkWhere(i int, l LinkConfig) string {
	if l.Name == "" {
		return "link #" + strconv.Itoa(i+1)
	}
	return "link " + l.Name
}

// nodeNames lists the topology's node names for a message, each once, at
// most maxListed of them.
func nodeNames(t Topology) string {
	var names []string
	seen := map[string]bool{}
	for _, n := range t.Nodes {
		if !seen[n.Name] {
			seen[n.Name] = true
			names = append(names, n.Name)
		}
	}
	return listNames(names)
}

// maxListed is how many names a message lists before it says how many more
// there are.
const maxListed = 10

// listNames joins names for a message ("a, b, c"), the first few of a long
// list only: "a, b, ... (20000 in all)".
func listNames(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxListed], ", ") + ", ... (" + strconv.Itoa(len(names)) + " in all)"
}

// linkNamer names links the user left unnamed: "a-b", then "a-b-2",
// "a-b-3" ..., the lowest number free, in constant time per link however
// many links join the same two nodes.
type linkNamer struct {
	taken map[string]bool
	next  map[string]int // base name -> the lowest number that may be free
}

func newLinkNamer() *linkNamer {
	return &linkNamer{taken: map[string]bool{}, next: map[string]int{}}
}

// generate returns the first free name of base, base-2, base-3 ...; it
// does not mark it taken. Names are only ever added to taken, so numbers
// below next[base] stay taken and need no second look.
func (n *linkNamer) generate(base string) string {
	if !n.taken[base] {
		return base
	}
	k := max(n.next[base], 2)
	for n.taken[base+"-"+strconv.Itoa(k)] {
		k++
	}
	n.next[base] = k
	return base + "-" + strconv.Itoa(k)
}

// checkAddrs validates user-given addresses: well-formed, usable on an
// interface, no address twice, no subnet on two segments.
func (p *plan) checkAddrs(errs *problems) {
	owner := map[netip.Addr]*ifacePlan{}
	subnets := newSubnetIndex()
	for _, seg := range p.segs {
		for _, ip := range seg.ends {
			w := where(segWhere(seg), "interface "+ip.String())
			before := len(*errs)
			for _, a := range ip.addrs {
				aw := where(w, "address "+a.String())
				if !a.IsValid() {
					errs.add(w, "invalid address (zero netip.Prefix)")
					continue
				}
				addr := a.Addr()
				if addr.Is4In6() {
					errs.add(aw, "IPv4-mapped IPv6 address; write the IPv4 address")
					continue
				}
				if addr.Zone() != "" {
					errs.add(aw, "address has a zone")
					continue
				}
				switch {
				case addr.IsUnspecified():
					errs.add(aw, "unspecified address")
					continue
				case addr.IsLoopback():
					errs.add(aw, "loopback address; every node has its own lo")
					continue
				case addr.IsMulticast():
					errs.add(aw, "multicast address")
					continue
				case addr.Is6() && addr.IsLinkLocalUnicast():
					errs.add(aw, "IPv6 link-local address; the kernel gives every interface one")
					continue
				}
				if addr.Is4() && a.Bits() <= 30 {
					m := a.Masked().Addr()
					if addr == m {
						errs.add(aw, "is the network address of %s; pick a host address", a.Masked())
						continue
					}
					if addr == lastAddr(a) {
						errs.add(aw, "is the broadcast address of %s; pick a host address", a.Masked())
						continue
					}
				}
				if prev := owner[addr]; prev != nil {
					errs.add(aw, "duplicate: %s has it already", prev)
					continue
				}
				owner[addr] = ip
				m := a.Masked()
				if s, ok := subnets.overlap(m, seg); ok {
					errs.add(aw, "subnet %s overlaps %s on %s (%s)", m, s.prefix, segWhere(s.seg), s.by)
				} else {
					subnets.add(subnet{m, seg, ip})
				}
			}
			if len(*errs) > before {
				ip.node.bad = true
			}
			if len(ip.addrs) > 0 {
				seg.user = true
			}
		}
	}
}

// checkMTUs rejects IPv6 on links whose MTU is below IPv6's minimum.
func (p *plan) checkMTUs(errs *problems) {
	for _, seg := range p.segs {
		for _, ip := range seg.ends {
			if ip.mtu == 0 || ip.mtu >= 1280 {
				continue
			}
			for _, a := range ip.addrs {
				if a.Addr().Is6() {
					errs.add(where(segWhere(seg), "interface "+ip.String()), "MTU %d is below IPv6's minimum of 1280, but %s is IPv6", ip.mtu, a)
					break
				}
			}
		}
	}
}

func segWhere(seg *segment) string {
	if seg.isLAN {
		return "lan " + seg.name
	}
	return "link " + seg.name
}

// lastAddr returns the highest address of the prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// expandViaNode turns gateways named by node into addresses: the named
// node's address on a segment both nodes are on, of the route's family. A
// default route via a node becomes one route per family the segment has.
func (p *plan) expandViaNode(np *nodePlan, r Route) ([]Route, string) {
	uses := r.ViaNode != ""
	for _, h := range r.NextHops {
		uses = uses || h.ViaNode != ""
	}
	if !uses {
		return []Route{r}, ""
	}
	if r.ViaNode != "" && r.Via.IsValid() {
		return nil, "give via as an address or as a node, not both"
	}
	fams := []Family{IPv4, IPv6}
	if r.Dst.IsValid() {
		fams = []Family{FamilyOf(r.Dst.Addr())}
	}
	var out []Route
	var lastMsg string
	for _, f := range fams {
		x := r
		x.NextHops = append([]NextHop(nil), r.NextHops...)
		msg := ""
		if r.ViaNode != "" {
			x.Via, x.Dev, msg = p.gatewayOf(np, r.ViaNode, r.Dev, f)
			x.ViaNode = ""
		}
		for i := range x.NextHops {
			if h := &x.NextHops[i]; h.ViaNode != "" && msg == "" {
				h.Via, h.Dev, msg = p.gatewayOf(np, h.ViaNode, h.Dev, f)
				h.ViaNode = ""
			}
		}
		if msg != "" {
			lastMsg = msg
			continue
		}
		if !r.Dst.IsValid() {
			x.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			if f == IPv6 {
				x.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			}
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, lastMsg
	}
	return out, ""
}

// gatewayOf finds ref's ("node" or "node:iface") address of family f on a
// segment np is on too, with np's interface there (dev, if given).
func (p *plan) gatewayOf(np *nodePlan, ref, dev string, f Family) (netip.Addr, string, string) {
	name, iface, _ := strings.Cut(ref, ":")
	gw := p.byName[name]
	switch {
	case gw == nil || gw.isSwitch:
		return netip.Addr{}, "", fmt.Sprintf("gateway %q is not a node", ref)
	case gw == np:
		return netip.Addr{}, "", fmt.Sprintf("gateway %q is the node itself", ref)
	case iface != "" && gw.byIface[iface] == nil:
		return netip.Addr{}, "", fmt.Sprintf("gateway %q: node %s has no interface %q", ref, name, iface)
	}
	for _, mine := range np.ifaces {
		if dev != "" && mine.name != dev {
			continue
		}
		for _, theirs := range gw.ifaces {
			if mine.seg == nil || theirs.seg != mine.seg || iface != "" && theirs.name != iface {
				continue
			}
			if a, ok := commonSubnetAddr(mine, theirs, f); ok {
				return a, mine.name, ""
			}
		}
	}
	return netip.Addr{}, "", fmt.Sprintf("gateway %q: %s shares no %s subnet with %s", ref, name, f, np.name)
}

// resolveRoute checks a user route against the node's interfaces and fills in
// what the kernel needs, or says what is wrong.
func (np *nodePlan) resolveRoute(r Route) (*routePlan, string) {
	rp := &routePlan{r: r, metric: r.Metric}
	if r.Metric < 0 || int64(r.Metric) > 1<<32-1 {
		return nil, fmt.Sprintf("metric %d is outside 0..4294967295", r.Metric)
	}
	hops := r.NextHops
	if len(hops) > 0 {
		if r.Via.IsValid() || r.Dev != "" {
			return nil, "give either via/dev or nexthops, not both"
		}
	} else {
		if !r.Via.IsValid() && r.Dev == "" {
			return nil, "needs a gateway (via), an interface (dev) or nexthops"
		}
		hops = []NextHop{{Via: r.Via, Dev: r.Dev}}
	}
	// The family comes from the destination, else from the gateways.
	var fam Family
	if r.Dst.IsValid() {
		fam = FamilyOf(r.Dst.Addr())
		if r.Dst.Addr().Is4In6() {
			return nil, "destination is an IPv4-mapped IPv6 prefix; write the IPv4 prefix"
		}
		if r.Dst.Masked() != r.Dst {
			return nil, fmt.Sprintf("destination %s has host bits set; did you mean %s?", r.Dst, r.Dst.Masked())
		}
	} else {
		for _, h := range hops {
			if h.Via.IsValid() {
				fam = FamilyOf(h.Via)
				break
			}
		}
		if fam == 0 {
			return nil, "a default route without a gateway is ambiguous; write 0.0.0.0/0 or ::/0 as destination"
		}
	}
	rp.family = fam
	rp.dst = r.Dst
	if !rp.dst.IsValid() {
		rp.dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if fam == IPv6 {
			rp.dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	}
	for _, h := range hops {
		if h.Weight < 0 || h.Weight > 256 {
			return nil, fmt.Sprintf("weight %d is outside 1..256", h.Weight)
		}
		if !h.Via.IsValid() && h.Dev == "" {
			return nil, "a nexthop needs a gateway (via) or an interface (dev)"
		}
		hp := hopPlan{via: h.Via, weight: max(h.Weight, 1)}
		if h.Dev != "" {
			hp.dev = np.byIface[h.Dev]
			if hp.dev == nil {
				return nil, fmt.Sprintf("node %s has no interface %q (it has %s)", np.name, h.Dev, listNames(np.ifaceNames()))
			}
		}
		if via := h.Via; via.IsValid() {
			if FamilyOf(via) != fam {
				return nil, fmt.Sprintf("gateway %s is %s but the destination is %s", via, FamilyOf(via), fam)
			}
			if via.IsUnspecified() || via.IsMulticast() || via.IsLoopback() {
				return nil, fmt.Sprintf("gateway %s is not a unicast address", via)
			}
			if via.Is6() && via.IsLinkLocalUnicast() {
				if hp.dev == nil {
					return nil, fmt.Sprintf("link-local gateway %s needs dev", via)
				}
			} else {
				onlink := np.onLink(via, hp.dev)
				if onlink == nil {
					return nil, fmt.Sprintf("gateway %s is on no connected subnet of %s (%s)", via, np.name, np.subnetList(hp.dev))
				}
				if onlink.hasAddr(via) {
					return nil, fmt.Sprintf("gateway %s is %s's own address", via, onlink)
				}
				hp.dev = onlink
			}
		}
		rp.hops = append(rp.hops, hp)
	}
	return rp, ""
}

// onLink returns the interface (dev, if given) with a subnet holding a.
func (np *nodePlan) onLink(a netip.Addr, dev *ifacePlan) *ifacePlan {
	for _, ip := range np.ifaces {
		if dev != nil && ip != dev {
			continue
		}
		for _, p := range ip.addrs {
			if p.Masked().Contains(a) {
				return ip
			}
		}
	}
	return nil
}

func (ip *ifacePlan) hasAddr(a netip.Addr) bool {
	for _, p := range ip.addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

func (np *nodePlan) ifaceNames() []string {
	var names []string
	for _, ip := range np.ifaces {
		names = append(names, ip.name)
	}
	return names
}

func (np *nodePlan) subnetList(dev *ifacePlan) string {
	var s []string
	for _, ip := range np.ifaces {
		if dev != nil && ip != dev {
			continue
		}
		for _, p := range ip.addrs {
			s = append(s, ip.name+" "+p.Masked().String())
		}
	}
	if len(s) == 0 {
		return "it has no addresses"
	}
	return "it has " + listNames(s)
}
