package nettest

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// Builder makes the common Topology short to write. Its methods record what
// they are given and return the Builder, so calls chain; mistakes (a
// malformed address, a route in bad syntax) are reported together by
// Topology or Build, with everything Validate finds.
//
// A Builder starts with automatic IPv4 and IPv6 addressing and automatic
// routes on (see [Auto]); Auto changes that.
type Builder struct {
	t        Topology
	errs     problems
	routes   map[string][]Route
	sysctls  map[string]map[string]string
	loopback map[string]*NodeConfig // the Loopback and AutoLoopback asked for each node
	rules    map[string][]PolicyRule
	allLo    bool // Loopbacks was called
}

// NewBuilder returns a Builder for a topology of the given name (may be empty).
func NewBuilder(name string) *Builder {
	return &Builder{
		t:        Topology{Name: name, Auto: Auto{IPv4: true, IPv6: true, Routes: true}},
		routes:   map[string][]Route{},
		sysctls:  map[string]map[string]string{},
		loopback: map[string]*NodeConfig{},
		rules:    map[string][]PolicyRule{},
	}
}

// Auto replaces the automatic addressing and routing settings.
func (b *Builder) Auto(a Auto) *Builder {
	b.t.Auto = a
	return b
}

// Host adds hosts: nodes that do not forward.
func (b *Builder) Host(names ...string) *Builder {
	for _, n := range names {
		b.t.Nodes = append(b.t.Nodes, NodeConfig{Name: n, Kind: Host})
	}
	return b
}

// Router adds routers: nodes with IPv4 and IPv6 forwarding on.
func (b *Builder) Router(names ...string) *Builder {
	for _, n := range names {
		b.t.Nodes = append(b.t.Nodes, NodeConfig{Name: n, Kind: Router})
	}
	return b
}

// Sysctl sets a net.* sysctl inside a node (see NodeConfig.Sysctls).
func (b *Builder) Sysctl(node, key, value string) *Builder {
	if b.sysctls[node] == nil {
		b.sysctls[node] = map[string]string{}
	}
	b.sysctls[node][key] = value
	return b
}

// LinkOption adjusts a link made by [Builder.Link]. [LinkName] and
// [LinkMTU] are link options.
type LinkOption interface{ applyLink(*LinkConfig) }

// LANOption adjusts a LAN made by [Builder.LAN]. [LinkMTU] is a LAN option.
type LANOption interface{ applyLAN(*LANConfig) }

// SegmentOption adjusts a link or a LAN alike.
type SegmentOption interface {
	LinkOption
	LANOption
}

// linkName is LinkName's option.
type linkName string

func (o linkName) applyLink(l *LinkConfig) { l.Name = string(o) }

// linkMTU is LinkMTU's option.
type linkMTU int

func (o linkMTU) applyLink(l *LinkConfig) { l.MTU = int(o) }
func (o linkMTU) applyLAN(l *LANConfig)   { l.MTU = int(o) }

// LinkMTU sets the MTU of a link's two ends, or of a LAN's members and
// switch ports (see LinkConfig.MTU, LANConfig.MTU).
func LinkMTU(mtu int) SegmentOption { return linkMTU(mtu) }

// LinkName names a link, for [Network.Link] (see LinkConfig.Name).
func LinkName(name string) LinkOption { return linkName(name) }

// Link joins two nodes with a veth pair. Each end is written
//
//	node                      interface named eth0, eth1, ... and addressed automatically
//	node:iface                interface named by you
//	node:iface=10.1.1.1/24    with addresses, comma-separated (IPv4 and/or IPv6)
//	node=10.1.1.1/24,fd00::1/64
func (b *Builder) Link(a, c string, opts ...LinkOption) *Builder {
	l := LinkConfig{A: b.endpoint("link "+a+" <-> "+c, a), B: b.endpoint("link "+a+" <-> "+c, c)}
	for _, o := range opts {
		o.applyLink(&l)
	}
	b.t.Links = append(b.t.Links, l)
	return b
}

// Chain links each node to the next: Chain("h1", "r1", "r2", "h2") makes the
// links h1-r1, r1-r2 and r2-h2. Ends are written as for Link.
func (b *Builder) Chain(ends ...string) *Builder {
	for i := 0; i+1 < len(ends); i++ {
		b.Link(ends[i], ends[i+1])
	}
	return b
}

// LAN adds a broadcast segment named name with the given members, each
// written as an end of Link ("h1", "h1:eth0", "h1:eth0=10.0.0.1/24"):
//
//	b.LAN("lan", []string{"r1", "h1", "h2"}, nettest.LinkMTU(9000))
func (b *Builder) LAN(name string, members []string, opts ...LANOption) *Builder {
	lan := LANConfig{Name: name}
	for _, m := range members {
		lan.Members = append(lan.Members, b.endpoint("lan "+name, m))
	}
	for _, o := range opts {
		o.applyLAN(&lan)
	}
	b.t.LANs = append(b.t.LANs, lan)
	return b
}

// Route adds static routes to a node, in ip-route(8) syntax (see [ParseRoute]):
//
//	b.Route("h1", "default via 10.0.0.1")
//	b.Route("r1", "10.9.0.0/16 nexthop via 10.0.0.2 nexthop via 10.0.1.2")
func (b *Builder) Route(node string, routes ...string) *Builder {
	for _, s := range routes {
		r, err := ParseRoute(s)
		if err != nil {
			b.errs.at(builderNode(node).field("Routes", s), "%v", err)
			continue
		}
		b.routes[node] = append(b.routes[node], r)
	}
	return b
}

// Loopback gives a node loopback addresses (see NodeConfig.Loopback): the
// addresses given, each an IPv4 or IPv6 address ("10.255.0.1",
// "fd00:255::1", "/32" and "/128" allowed), or with none, an automatic
// address of each family automatic addressing has on:
//
//	b.Loopback("r1")                              198.19.240.1, fdf6:fd81:8f7e:ffff::1
//	b.Loopback("r2", "10.255.0.2", "fd00:255::2")
func (b *Builder) Loopback(node string, addrs ...string) *Builder {
	c := b.loopback[node]
	if c == nil {
		c = &NodeConfig{}
		b.loopback[node] = c
	}
	if len(addrs) == 0 {
		c.AutoLoopback = true
	}
	for _, s := range addrs {
		a, err := ParseLoopback(s)
		if err != nil {
			b.errs.at(builderNode(node).field("Loopback", s), "%v", err)
			continue
		}
		c.Loopback = append(c.Loopback, a)
	}
	return b
}

// Loopbacks gives every router without loopback addresses of its own an
// automatic one (Auto.Loopbacks), whether it is called before Auto or
// after.
func (b *Builder) Loopbacks() *Builder {
	b.allLo = true
	return b
}

// Rule adds policy-routing rules to a node, in ip-rule(8) syntax (see
// [ParsePolicyRule]), with the routes of their tables given to Route
// with "table N":
//
//	b.Route("r1", "default via r3 table 100")
//	b.Rule("r1", "from h1 table 100")
func (b *Builder) Rule(node string, rules ...string) *Builder {
	for _, s := range rules {
		r, err := ParsePolicyRule(s)
		if err != nil {
			b.errs.at(builderNode(node).field("Rules", s), "%v", err)
			continue
		}
		b.rules[node] = append(b.rules[node], r)
	}
	return b
}

// Topology returns the topology described so far, and every problem found
// in it (the Builder's parse errors and Validate's).
func (b *Builder) Topology() (Topology, error) {
	t, _, err := b.resolve()
	return t, err
}

// Build builds the topology described so far; see [Build].
func (b *Builder) Build(ctx context.Context) (*Network, error) {
	if ctx == nil {
		return nil, nilContext("nettest", "Builder.Build")
	}
	_, p, err := b.resolve()
	if err != nil {
		return nil, err
	}
	return build(ctx, p)
}

// resolve assembles the Topology and validates it once.
func (b *Builder) resolve() (Topology, *plan, error) {
	t := b.t
	t.Auto.Loopbacks = t.Auto.Loopbacks || b.allLo
	t.Nodes = append([]NodeConfig(nil), b.t.Nodes...)
	errs := append(problems(nil), b.errs...)
	known := map[string]bool{}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		known[n.Name] = true
		n.Routes = append(n.Routes, b.routes[n.Name]...)
		if s := b.sysctls[n.Name]; s != nil {
			n.Sysctls = s
		}
		if c := b.loopback[n.Name]; c != nil {
			n.Loopback = append(n.Loopback, c.Loopback...)
			n.AutoLoopback = n.AutoLoopback || c.AutoLoopback && len(n.Loopback) == 0
		}
		n.Rules = append(n.Rules, b.rules[n.Name]...)
	}
	for _, node := range slices.Sorted(maps.Keys(b.routes)) {
		if !known[node] {
			errs.at(builderNode(node).field("Routes", nil), "routes given for an unknown node")
		}
	}
	for _, node := range slices.Sorted(maps.Keys(b.sysctls)) {
		if !known[node] {
			errs.at(builderNode(node).field("Sysctls", nil), "sysctls given for an unknown node")
		}
	}
	for _, node := range slices.Sorted(maps.Keys(b.loopback)) {
		if !known[node] {
			errs.at(builderNode(node).field("Loopback", nil), "loopback given for an unknown node")
		}
	}
	for _, node := range slices.Sorted(maps.Keys(b.rules)) {
		if !known[node] {
			errs.at(builderNode(node).field("Rules", nil), "rules given for an unknown node")
		}
	}
	p, err := t.resolve()
	if err != nil {
		errs = append(errs, unwrapAll(err)...)
	}
	return t, p, errs.err()
}

// builderNode names a node given to a Builder by name.
func builderNode(node string) ConfigError {
	c := at("node " + node)
	c.Node = node
	return c
}

// endpoint parses "node[:iface][=addr,addr...]", recording errors.
func (b *Builder) endpoint(w, s string) Endpoint {
	ref, addrs, hasAddrs := strings.Cut(s, "=")
	e, err := ParseEndpoint(ref)
	if err != nil {
		b.errs.at(at(w).field("Node", ref), "%v", err)
		return Endpoint{Node: ref}
	}
	if hasAddrs {
		for _, a := range strings.Split(addrs, ",") {
			p, err := ParsePrefix(strings.TrimSpace(a))
			if err != nil {
				b.errs.at(at(where(w, "end "+ref)).field("Addrs", a), "%v", err)
				continue
			}
			e.Addrs = append(e.Addrs, p)
		}
	}
	return e
}

// unwrapAll returns the errors joined in err.
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
