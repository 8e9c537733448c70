package nettest

import (
	"bytes"
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
	// linkNames are the user links' names, index for index, generated
	// for the unnamed.
	linkNames []string
	auto      Auto
}

type nodePlan struct {
	name     string
	idx      int // index in Topology.Nodes; -1 for a switch
	kind     NodeKind
	isSwitch bool
	sysctls  []sysctlPlan // sorted by key
	ifaces   []*ifacePlan
	byIface  map[string]*ifacePlan
	routes   []*routePlan
	nextIdx  int          // next interface index to ask the kernel for
	nextPeer int          // next index for a veth's B end (from 2, as the kernel numbers them), 0 before the first
	bad      bool         // one of its addresses is at fault
	pos      int          // position in plan.nodes
	loopback []netip.Addr // the addresses on its lo, given or automatic
	autoLo   bool         // wants automatic loopback addresses
	rules    []*rulePlan
}

// sysctlPlan is one of a node's sysctls: the key as given, its file under
// /proc/sys and the value.
type sysctlPlan struct {
	key, path, value string
}

type ifacePlan struct {
	node    *nodePlan
	name    string
	index   int // asked of the kernel for primaries and bridges; learnt for peers
	mac     net.HardwareAddr
	mtu     int
	addrs   []netip.Prefix
	seg     *segment // the L3 segment; nil for switch ports and bridges
	end     int      // the end of its link (0: A, 1: B) or its index among the LAN's members
	link    *linkPlan
	bridge  bool       // the switch's bridge device
	master  *ifacePlan // the bridge a switch port belongs to
	primary bool       // created as the first end of its veth (index known in advance)
	live    *Interface // the live interface, once built
}

type linkPlan struct {
	name   string
	idx    int        // index in Topology.Links; -1 for a LAN attachment
	a, b   *ifacePlan // a is created as the primary end, in a's namespace
	mtu    int
	lan    *segment     // set for a LAN member's attachment; b is then the switch port
	impair *Impairments // nil for none: most links have none
	via    Mechanism    // as asked; the one used is chosen at Build
}

// impairments returns the impairments asked of the link (zero for none).
func (lp *linkPlan) impairments() Impairments {
	if lp.impair == nil {
		return Impairments{}
	}
	return *lp.impair
}

type segment struct {
	name  string
	idx   int // index in Topology.Links or Topology.LANs
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
	table  int // 0 for main
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
// validates the topology first and needs no privilege; [Topology.Resolve]
// answers for an invalid topology too.
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

// resolve returns the plan of a valid topology, or every problem of it.
func (t Topology) resolve() (*plan, error) {
	p, errs := t.plan()
	if len(errs) > 0 {
		return nil, errs.err()
	}
	if t.Auto.Routes {
		p.autoRoutes()
	}
	return p, nil
}

// resolver works a Topology out into a plan, collecting its problems.
type resolver struct {
	t    Topology
	p    *plan
	errs problems
}

// plan resolves as much of the topology as it can, valid or not, and
// returns every problem found on the way. Routes are checked even when
// something else is wrong, so that one run reports every problem.
func (t Topology) plan() (*plan, problems) {
	r := &resolver{t: t, p: &plan{name: t.Name, byName: map[string]*nodePlan{}, auto: t.Auto,
		links: make([]*linkPlan, 0, len(t.Links)), segs: make([]*segment, 0, len(t.Links)+len(t.LANs))}}
	if t.Name != "" {
		if err := checkName(t.Name, 32); err != nil {
			r.errs.at(at("topology").field("Name", t.Name), "%v", err)
		}
	}
	if len(t.Nodes) == 0 {
		r.errs.at(at(where("topology", t.Name)).field("Nodes", nil), "no nodes")
	}
	r.nodes()
	lanNames := r.lanNames()
	r.links()
	r.lans(lanNames)
	r.p.nameIfaces()
	r.checkMACs()
	r.p.checkAddrs(&r.errs)
	r.p.autoAddress(&r.errs)
	r.p.checkMTUs(&r.errs)
	r.routes()
	r.rules()
	return r.p, r.errs
}

// nodes plans the user's nodes and their sysctls. Nodes and LANs share one
// namespace of names.
func (r *resolver) nodes() {
	p := r.p
	for i, n := range r.t.Nodes {
		w := nodeAt(i, n.Name)
		if err := checkName(n.Name, 63); err != nil {
			r.errs.at(w.field("Name", n.Name), "%v", err)
			continue
		}
		if p.byName[n.Name] != nil {
			r.errs.at(w.field("Name", n.Name), "duplicate node name")
			continue
		}
		if n.Kind != Host && n.Kind != Router {
			r.errs.at(w.field("Kind", int(n.Kind)), "kind %d is neither Host nor Router", int(n.Kind))
		}
		np := &nodePlan{name: n.Name, idx: i, kind: n.Kind, byIface: map[string]*ifacePlan{}, nextIdx: firstIndex}
		np.loopback = slices.Clone(n.Loopback)
		np.autoLo = len(n.Loopback) == 0 && (n.AutoLoopback || r.t.Auto.Loopbacks && n.Kind == Router)
		if n.AutoLoopback && len(n.Loopback) > 0 {
			r.errs.at(w.field("AutoLoopback", true), "give loopback addresses or ask for automatic ones, not both")
		}
		for _, k := range slices.Sorted(maps.Keys(n.Sysctls)) {
			v := n.Sysctls[k]
			sw := w
			sw.Sysctl = k
			path, err := sysctlPath(k)
			if err != nil {
				r.errs.at(sw.field("Sysctls", k), "%v", err)
				continue
			}
			if strings.ContainsAny(v, "\n\x00") {
				r.errs.at(sw.field("Value", v), "sysctl %s: value %q has a newline", k, v)
				continue
			}
			np.sysctls = append(np.sysctls, sysctlPlan{key: k, path: path, value: v})
		}
		p.nodes = append(p.nodes, np)
		p.byName[n.Name] = np
	}
}

// lanNames checks the LANs' names and returns them as a set.
func (r *resolver) lanNames() map[string]bool {
	names := map[string]bool{}
	for i, l := range r.t.LANs {
		w := lanAt(i, l.Name).field("Name", l.Name)
		if err := checkName(l.Name, 63); err != nil {
			r.errs.at(w, "%v", err)
		} else if r.p.byName[l.Name] != nil {
			r.errs.at(w, "name is taken by a node; LANs and nodes share one set of names")
		} else if names[l.Name] {
			r.errs.at(w, "duplicate LAN name")
		}
		names[l.Name] = true
	}
	return names
}

// addIface adds the interface of an endpoint to its node, in the order
// the endpoints appear (links, then LANs). w names the endpoint: it is
// called for a problem only, as most endpoints have none.
func (r *resolver) addIface(w func() ConfigError, np *nodePlan, e Endpoint, mtu int) *ifacePlan {
	ip := &ifacePlan{node: np, name: e.Iface, mtu: mtu, mac: e.MAC}
	if e.Iface != "" {
		if err := checkIfaceName(e.Iface); err != nil {
			r.errs.at(w().field("Iface", e.Iface), "%v", err)
		} else if np.byIface[e.Iface] != nil {
			r.errs.at(w().field("Iface", e.Iface), "node %s has interface %s twice", np.name, e.Iface)
		} else {
			np.byIface[e.Iface] = ip
		}
	}
	if e.MAC != nil && (len(e.MAC) != 6 || e.MAC[0]&1 == 1) {
		r.errs.at(w().field("MAC", e.MAC), "MAC %s is not a 6-byte unicast address", e.MAC)
	}
	np.ifaces = append(np.ifaces, ip)
	return ip
}

// node returns the node an endpoint names, or nil (a problem). w names
// the endpoint, called for a problem only.
func (r *resolver) node(w func() ConfigError, e Endpoint) *nodePlan {
	if e.Node == "" {
		r.errs.at(w().field("Node", nil), "no node given")
		return nil
	}
	np := r.p.byName[e.Node]
	if np == nil {
		r.errs.at(w().field("Node", e.Node), "unknown node %q (nodes: %s)", e.Node, nodeNames(r.t))
	}
	return np
}

// endIfaceName reports a bad interface name of an endpoint whose node is
// unknown, which addIface does not see.
func (r *resolver) endIfaceName(w func() ConfigError, e Endpoint) {
	if e.Iface == "" {
		return
	}
	if err := checkIfaceName(e.Iface); err != nil {
		r.errs.at(w().field("Iface", e.Iface), "%v", err)
	}
}

func (r *resolver) checkMTU(w ConfigError, mtu int) {
	if mtu != 0 && (mtu < 68 || mtu > 65535) {
		r.errs.at(w.field("MTU", mtu), "MTU %d is outside 68..65535", mtu)
	}
}

// links plans the user's links, naming those left unnamed.
func (r *resolver) links() {
	linkNames := newLinkNamer()
	for i, l := range r.t.Links {
		name := l.Name
		if name == "" {
			name = linkNames.generate(l.A.Node + "-" + l.B.Node)
		} else if linkNames.taken[name] {
			r.errs.at(linkAt(i, name).field("Name", name), "duplicate link name")
		}
		linkNames.taken[name] = true
		r.p.linkNames = append(r.p.linkNames, name)
		w := linkAt(i, name)
		r.checkMTU(w, l.MTU)
		// The ends' ConfigErrors, made for a problem only: an unknown
		// node is at "end A" or "end B", the rest at the end as written.
		endAt := func(k int, written bool) func() ConfigError {
			return func() ConfigError {
				e, ab := l.A, "A"
				if k == 1 {
					e, ab = l.B, "B"
				}
				c := w.in("end " + ab)
				if written {
					c.Where = where(w.Where, "end "+e.String())
				}
				c.End = ab
				return c
			}
		}
		na, nb := r.node(endAt(0, false), l.A), r.node(endAt(1, false), l.B)
		ends := [2]func() ConfigError{endAt(0, true), endAt(1, true)}
		if na == nil || nb == nil {
			// Still report what is wrong with the ends' names.
			r.endIfaceName(ends[0], l.A)
			r.endIfaceName(ends[1], l.B)
			continue
		}
		if na == nb {
			r.errs.at(w, "joins node %s to itself", na.name)
			continue
		}
		lp := &linkPlan{name: name, idx: i, mtu: l.MTU, via: l.ImpairVia}
		if l.Impair != (Impairments{}) {
			imp := l.Impair
			lp.impair = &imp
		}
		r.errs = append(r.errs, lp.impairProblems(l.Impair)...)
		if _, err := mechanismFor(l.ImpairVia, l.Impair, func() bool { return true }, false); err != nil && l.ImpairVia != MechanismNetem {
			r.errs.at(w.field("ImpairVia", string(l.ImpairVia)), "%v", err)
		}
		seg := &segment{name: name, idx: i}
		lp.a = r.addIface(ends[0], na, l.A, l.MTU)
		lp.b = r.addIface(ends[1], nb, l.B, l.MTU)
		for k, e := range []Endpoint{l.A, l.B} {
			ip := []*ifacePlan{lp.a, lp.b}[k]
			ip.seg, ip.link, ip.addrs, ip.end = seg, lp, e.Addrs, k
			seg.ends = append(seg.ends, ip)
		}
		lp.a.primary = true
		r.p.links = append(r.p.links, lp)
		r.p.segs = append(r.p.segs, seg)
	}
}

// impairProblems returns what is wrong with impairments asked of the
// link: one problem per direction at fault.
func (lp *linkPlan) impairProblems(imp Impairments) problems {
	var errs problems
	for _, d := range []struct {
		dir, field string
		imp        Impairment
	}{{"A->B", "Impair.AB", imp.AB}, {"B->A", "Impair.BA", imp.BA}} {
		if field, err := d.imp.validate(); err != nil {
			errs.at(linkAt(lp.idx, lp.name).in("impairment "+d.dir).field(d.field+"."+field, d.imp.fieldValue(field)), "%v", err)
		}
	}
	return errs
}

// checkImpair returns the first problem of impairments asked of the link.
func (lp *linkPlan) checkImpair(imp Impairments) error {
	if errs := lp.impairProblems(imp); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// lans plans the LANs: a switch node each, with a bridge and one port per
// member.
func (r *resolver) lans(lanNames map[string]bool) {
	p := r.p
	for i, l := range r.t.LANs {
		w := lanAt(i, l.Name)
		r.checkMTU(w, l.MTU)
		if len(l.Members) == 0 {
			r.errs.at(w.field("Members", nil), "no members")
		}
		sw := &nodePlan{name: l.Name, idx: -1, isSwitch: true, byIface: map[string]*ifacePlan{}, nextIdx: firstIndex}
		br := &ifacePlan{node: sw, name: "br0", bridge: true, mtu: l.MTU}
		br.index = sw.alloc()
		sw.ifaces = append(sw.ifaces, br)
		sw.byIface[br.name] = br
		seg := &segment{name: l.Name, idx: i, isLAN: true, sw: sw}
		for k, e := range l.Members {
			mw := func() ConfigError {
				mw := w.in("member " + e.String())
				mw.Member = k
				return mw
			}
			np := r.node(mw, e)
			if np == nil {
				r.endIfaceName(mw, e)
				continue
			}
			member := r.addIface(mw, np, e, l.MTU)
			member.seg, member.addrs, member.end = seg, e.Addrs, k
			seg.ends = append(seg.ends, member)
			port := &ifacePlan{node: sw, mtu: l.MTU, master: br, primary: true}
			port.name = e.Node
			if len(port.name) > maxIfaceName || sw.byIface[port.name] != nil {
				port.name = "port" + strconv.Itoa(k)
			}
			sw.byIface[port.name] = port
			sw.ifaces = append(sw.ifaces, port)
			lp := &linkPlan{name: l.Name + ":" + port.name, idx: -1, a: port, b: member, mtu: l.MTU, lan: seg}
			port.link, member.link = lp, lp
			p.links = append(p.links, lp)
		}
		p.segs = append(p.segs, seg)
		p.nodes = append(p.nodes, sw)
		if lanNames[l.Name] && p.byName[l.Name] == nil {
			p.byName[l.Name] = sw
		}
	}
}

// nameIfaces gives interfaces left unnamed the lowest free of eth0, eth1
// ..., every interface a MAC, and primaries the indexes to ask the kernel
// for.
func (p *plan) nameIfaces() {
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
}

// checkMACs refuses a MAC twice on one link or LAN.
func (r *resolver) checkMACs() {
	for _, lp := range r.p.links {
		if lp.lan == nil && bytes.Equal(lp.a.mac, lp.b.mac) {
			r.errs.at(linkAt(lp.idx, lp.name).field("MAC", lp.a.mac), "both ends have MAC %s", lp.a.mac)
		}
	}
	for _, seg := range r.p.segs {
		if !seg.isLAN {
			continue
		}
		seen := map[string]*ifacePlan{}
		for _, ip := range seg.ends {
			if prev := seen[ip.mac.String()]; prev != nil {
				w := segAt(seg).field("MAC", ip.mac)
				w.Member = ip.end
				r.errs.at(w, "%s and %s have the same MAC %s", prev, ip, ip.mac)
			}
			seen[ip.mac.String()] = ip
		}
	}
}

// routes checks the nodes' routes. A node whose addresses are at fault is
// skipped, as its routes would draw errors that are not theirs.
func (r *resolver) routes() {
	p := r.p
	routed := map[string]bool{} // the first node of each name only
	for i, n := range r.t.Nodes {
		np := p.byName[n.Name]
		if np == nil || np.isSwitch || np.bad || routed[n.Name] {
			continue
		}
		routed[n.Name] = true
		seen := map[string]bool{}
		for k, given := range n.Routes {
			w := nodeAt(i, n.Name).in("route "+given.String()).field("", given)
			w.Route = k
			routes, err := p.expandViaNode(np, given)
			if err != nil {
				r.errs.at(w, "%v", err)
				continue
			}
			for _, rt := range routes {
				rp, err := np.resolveRoute(rt)
				if err != nil {
					r.errs.at(w, "%v", err)
					continue
				}
				key := rp.dst.String() + "/" + strconv.Itoa(rp.metric) + "/" + strconv.Itoa(rp.table)
				if seen[key] {
					r.errs.at(w, "duplicate route: another route to %s with metric %d%s", rp.dst, rp.metric, tableNote(rp.table))
					continue
				}
				seen[key] = true
				np.routes = append(np.routes, rp)
			}
		}
	}
}

// firstIndex is the first interface index nettest asks the kernel for. The
// kernel numbers the interfaces it names itself (veth peers) from 2 up, and
// the two ends of a veth must not share an index: when they do, the kernel's
// linkwatch takes the carrier change for a non-urgent event and delays it by
// up to a second. Starting high keeps the two ranges apart.
const firstIndex = 1000

// hasIPv6 reports whether any interface or loopback has an IPv6 address.
func (p *plan) hasIPv6() bool {
	for _, np := range p.nodes {
		for _, a := range np.loopback {
			if a.Is6() {
				return true
			}
		}
	}
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

// segAt names a link or LAN as the ConfigErrors of its interfaces do.
func segAt(seg *segment) ConfigError {
	if seg.isLAN {
		c := at("lan " + seg.name)
		c.LAN, c.LANIndex = seg.name, seg.idx
		return c
	}
	return linkAt(seg.idx, seg.name)
}

// ifaceAt names an interface on its link or LAN.
func ifaceAt(ip *ifacePlan) ConfigError {
	c := segAt(ip.seg).in("interface " + ip.String())
	if ip.seg.isLAN {
		c.Member = ip.end
	} else {
		c.End = string(rune('A' + ip.end))
	}
	c.Node, c.NodeIndex = ip.node.name, ip.node.idx
	return c
}
