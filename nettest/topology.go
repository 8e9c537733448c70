package nettest

import (
	"net"
	"net/netip"
	"strconv"
)

// Topology describes a network to build: nodes, point-to-point links between
// them, LAN segments (switches) and routes. It is a plain value: build it by
// hand, with a [Builder], or from a scenario file, then pass it to [Build].
//
// The zero value of Auto asks for nothing automatic: every address and route
// is the user's. A [Builder] turns automatic addressing and routing on.
type Topology struct {
	// Name names the topology in errors and in persisted namespace names
	// (see [Network.Persist]). Optional; letters, digits, '-' and '_', at most 32 bytes.
	Name string
	// Nodes are the hosts and routers. Each becomes a network namespace.
	Nodes []NodeConfig
	// Links are veth pairs, each joining two nodes.
	Links []LinkConfig
	// LANs are broadcast segments: a Linux bridge in a namespace of its own,
	// with each member attached by a veth pair.
	LANs []LANConfig
	// Auto selects what the harness fills in by itself.
	Auto Auto
}

// Auto selects automatic addressing and routing.
type Auto struct {
	// IPv4 gives every link and LAN on which the user set no address at all an
	// IPv4 subnet: a /30 per link from IPv4Links, a /24 (or larger) per LAN
	// from IPv4LANs. By default both are in 198.18.0.0/15 (RFC 2544's
	// benchmarking range).
	IPv4 bool
	// IPv6 does the same with a /64 per link from the lower half of ULA, and
	// a /64 per LAN from its upper half.
	IPv6 bool
	// Routes installs static routes on every node along the shortest paths of
	// the topology graph, so that every address reaches every other, the
	// nodes' loopback addresses included (a host route to each). Only
	// routers forward: a path never crosses a host. They have the metric
	// [AutoRouteMetric] in both families; a route the user gives for the same
	// destination without a metric replaces the automatic one, with another
	// metric it stays beside it (a backup, or the preferred route).
	//
	// Automatic routes follow the links, like an instantly converging IGP:
	// when a link, an interface or a partition goes down or comes back up
	// (Link.SetDown and SetUp, Interface.SetDown and SetUp, Partition, Heal,
	// Flap), every node's automatic routes are computed again over what is
	// up, and those that changed are replaced before the call returns.
	Routes bool
	// FrozenRoutes keeps the automatic routes as Build computed them, whatever
	// goes down: traffic then goes into a cut until a daemon or the test
	// changes the routes (for tests that want to see that blackhole).
	FrozenRoutes bool

	// IPv4Links is the pool of IPv4 link subnets, /30 (/31 with
	// IPv4LinkBits 31) or shorter; the zero Prefix means
	// [DefaultIPv4Links], 198.18.0.0/16, which holds 16,384 links.
	IPv4Links netip.Prefix
	// IPv4LinkBits is the length of each link's automatic IPv4 subnet: 30
	// (0 means 30: the ends get .1 and .2 of a /30) or 31 (RFC 3021
	// point-to-point /31s: the ends get its two addresses, and the pool
	// holds twice as many links, 32,768 in the default one).
	IPv4LinkBits int
	// IPv4LANs is the pool of IPv4 LAN subnets, /24 or shorter; the zero
	// Prefix means [DefaultIPv4LANs], 198.19.0.0/16.
	IPv4LANs netip.Prefix
	// ULA is the IPv6 prefix links and LANs take /64s from, /63 or shorter;
	// the zero Prefix means [DefaultULA], the harness's own random unique
	// local /48, fdf6:fd81:8f7e::/48 (RFC 4193). Automatic IPv6 loopbacks
	// are /128s of its last /64 (fdf6:fd81:8f7e:ffff::/64 by default).
	ULA netip.Prefix

	// Loopbacks gives every router that has no NodeConfig.Loopback an
	// automatic one, as NodeConfig.AutoLoopback does for one node. Off by
	// default: nodes have no loopback address unless asked.
	Loopbacks bool
	// IPv4Loopbacks is the pool automatic IPv4 loopbacks (/32s) are taken
	// from, in order, from its second address; the zero Prefix means
	// [DefaultIPv4Loopbacks], 198.19.240.0/20. Link and LAN subnets given
	// out automatically skip the loopbacks.
	IPv4Loopbacks netip.Prefix
}

// NodeKind says whether a node forwards packets.
type NodeKind int

const (
	// Host is a node that does not forward packets (IPv4 and IPv6 forwarding off).
	Host NodeKind = iota
	// Router is a node with IPv4 and IPv6 forwarding on, inside its namespace only.
	Router
)

// String returns "host" or "router".
func (k NodeKind) String() string {
	switch k {
	case Host:
		return "host"
	case Router:
		return "router"
	}
	return "NodeKind(" + strconv.Itoa(int(k)) + ")"
}

// NodeConfig describes one node: a network namespace with loopback up.
type NodeConfig struct {
	// Name identifies the node: letters, digits, '-' and '_', starting with a
	// letter or digit, at most 63 bytes. Unique among nodes and LANs.
	Name string
	// Kind is Host (the zero value) or Router.
	Kind NodeKind
	// Sysctls are written inside the node's namespace after its interfaces exist,
	// keyed as sysctl(8) names them: "net.ipv4.conf.eth0.rp_filter" = "2".
	// Only the per-namespace net.* tree is accepted.
	Sysctls map[string]string
	// Routes are static routes, installed in the node's main table, or in
	// the table a route names (Route.Table).
	Routes []Route
	// Loopback are the node's router-ID addresses, put on its lo as /32
	// (IPv4) or /128 (IPv6) host addresses: stable addresses that do not
	// depend on any link. Automatic routes (Auto.Routes) reach them from
	// every other node; "node:lo" names them wherever a reference is read
	// ([Network.Lookup]); the first IPv4 one is the node's router ID
	// ([Node.RouterID]).
	Loopback []netip.Addr
	// AutoLoopback gives the node a loopback address of every family
	// automatic addressing has on (Auto.IPv4, Auto.IPv6), from the pools
	// of loopbacks (Auto.IPv4Loopbacks, the last /64 of Auto.ULA). Set
	// Loopback or AutoLoopback, not both.
	AutoLoopback bool
	// Rules are policy-routing rules (ip rule), installed in the order
	// given; with Route.Table they send some traffic, such as that from
	// one source, through a table of its own.
	Rules []PolicyRule
}

// Endpoint is one end of a link, or a LAN member: a node and its interface.
type Endpoint struct {
	// Node names the node.
	Node string
	// Iface names the interface inside the node. Empty means generated:
	// eth0, eth1, ... in the order the node's endpoints appear (links first, then LANs).
	Iface string
	// Addrs are the interface's addresses with their prefix length, IPv4 or IPv6.
	// When no endpoint of a link or LAN has an address, Topology.Auto may fill them.
	Addrs []netip.Prefix
	// MAC sets the interface's hardware address. Empty means derived from the
	// node and interface names, so that captures read the same across runs.
	MAC net.HardwareAddr
}

// String returns "node:iface", or "node" when the interface is not named.
func (e Endpoint) String() string {
	if e.Iface == "" {
		return e.Node
	}
	return e.Node + ":" + e.Iface
}

// LinkConfig describes a veth pair between two nodes.
type LinkConfig struct {
	// Name identifies the link for lookups. Empty means "A-B" from the node
	// names (with a "-2", "-3" ... suffix when two links join the same nodes).
	Name string
	// A and B are the two ends.
	A, B Endpoint
	// MTU of both ends; 0 keeps the kernel's default (1500).
	MTU int
	// Impair degrades the link, each direction on its own (see
	// Link.Impair to change it during a run).
	Impair Impairments
	// ImpairVia chooses the mechanism; empty means the best one this kernel
	// has for Impair. Ask for MechanismUserspace to be free to add delays
	// later on a kernel without netem.
	ImpairVia Mechanism
}

// LANConfig describes a broadcast segment: a bridge with every member attached.
type LANConfig struct {
	// Name identifies the LAN and its switch namespace; same rules as a node name.
	Name string
	// Members are the nodes on the segment, each with its interface.
	Members []Endpoint
	// MTU of every member interface and switch port; 0 keeps the kernel's default.
	MTU int
}

// Route is a static route in a node's main routing table.
//
// A route has either a single next hop (Via and/or Dev) or several (NextHops,
// an ECMP route). [ParseRoute] reads the same routes in ip-route(8) syntax.
type Route struct {
	// Dst is the destination prefix. The zero Prefix is the default route of
	// the family of the gateway (0.0.0.0/0 or ::/0).
	Dst netip.Prefix
	// Via is the gateway. It must lie in a subnet of one of the node's interfaces.
	Via netip.Addr
	// ViaNode names the gateway by its node instead ("r1", or "r1:eth0"):
	// its address on a segment both nodes are on. Useful with automatic
	// addresses. A default route via a node is made for each family that
	// segment has (IPv4 and IPv6). Set Via or ViaNode, not both.
	ViaNode string
	// Dev names the outgoing interface. Optional when Via is set.
	Dev string
	// Metric is the route's priority: lower wins. 0 is the kernel's default.
	Metric int
	// NextHops, when set, make the route multipath (ECMP); Via and Dev must then be empty.
	NextHops []NextHop
	// Table is the routing table the route goes into, 1 to 4294967295
	// except 255 (local); 0 and 254 are the main table. Routes in other
	// tables are used only where a policy rule (NodeConfig.Rules) looks
	// them up.
	Table int
}

// PolicyRule is a policy-routing rule (ip-rule(8)): traffic that matches
// its selectors (all of those set) is routed by the table it names.
// [ParsePolicyRule] reads the same rules in ip-rule(8) syntax.
type PolicyRule struct {
	// Priority orders the rules, lowest first (ip rule's pref). 0 means the
	// next free one from 1000 in the order the node's rules are given
	// (1000, 1001, ...). The kernel's own rules are at 0 (local), 32766
	// (main) and 32767 (default).
	Priority int
	// From selects packets by source prefix (a host prefix for one
	// address). The zero Prefix: any source.
	From netip.Prefix
	// FromNode selects packets by source too, naming the addresses of a
	// node ("h1": those of its interfaces), an interface ("h1:eth0") or a
	// loopback ("r2:lo"), each as a host prefix: one kernel rule per
	// address. Useful with automatic addresses. Set From or FromNode.
	FromNode string
	// To and ToNode select packets by destination, as From and FromNode do.
	To     netip.Prefix
	ToNode string
	// IIF selects packets that came in on this interface of the node; "lo"
	// selects those the node itself sends.
	IIF string
	// OIF selects packets whose socket is bound to this interface.
	OIF string
	// FwMark selects packets carrying this firewall mark (0: any), under
	// FwMask when it is not 0.
	FwMark, FwMask uint32
	// Table is the routing table to look up: 1 to 4294967295 (254 is
	// main, 253 default, 255 local).
	Table int
	// Family restricts a rule to one family; 0 means those of its
	// addresses, or both when it selects by no address.
	Family Family
}

// NextHop is one path of a multipath route.
type NextHop struct {
	// Via is the gateway.
	Via netip.Addr
	// ViaNode names the gateway by its node, as in Route.
	ViaNode string
	// Dev names the outgoing interface; optional when Via is set.
	Dev string
	// Weight is the relative share of flows, 1 to 256; 0 means 1.
	Weight int
}

// Family is an address family: IPv4 or IPv6.
type Family int

const (
	// IPv4 is the IPv4 address family.
	IPv4 Family = 4
	// IPv6 is the IPv6 address family.
	IPv6 Family = 6
)

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// FamilyOf returns the family of an address (IPv4-mapped IPv6 counts as IPv4).
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

var families = [...]Family{IPv4, IPv6}
