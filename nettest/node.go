package nettest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Node is a live host, router or LAN switch: a network namespace.
type Node struct {
	net    *Network
	p      *nodePlan
	ns     *namespace
	ifaces []*Interface
	// daemons are the daemons started in the node, for its report
	// (guarded by net.mu).
	daemons []*Daemon
}

// Name returns the node's name.
func (n *Node) Name() string { return n.p.name }

// Kind returns Host or Router; a LAN switch reports Host (see IsSwitch).
func (n *Node) Kind() NodeKind { return n.p.kind }

// IsSwitch reports whether the node is a LAN's switch: a namespace holding
// the bridge br0 and one port per member.
func (n *Node) IsSwitch() bool { return n.p.isSwitch }

// String returns the node's name.
func (n *Node) String() string { return n.p.name }

func (n *Node) where() string {
	if n.p.isSwitch {
		return "nettest: lan " + n.p.name
	}
	return "nettest: node " + n.p.name
}

// at names the node in a ConfigError located at w ("node r1: firewall:
// Deny(...)").
func (n *Node) at(w string) ConfigError {
	c := at(w)
	if n.p.isSwitch {
		c.LAN = n.p.name
	} else {
		c.Node, c.NodeIndex = n.p.name, n.p.idx
	}
	return c
}

// problem returns the ConfigError c with its problem.
func (n *Node) problem(c ConfigError, problem string) *ConfigError {
	c.Problem = problem
	return &c
}

// Do runs fn inside the node's network namespace and returns its error.
//
// fn runs on a goroutine locked to its OS thread, which goes back to its own
// namespace afterwards (or, should that fail, is ended). Goroutines fn starts
// do not run in the node; sockets fn opens stay in the node's namespace and
// may be used from any goroutine afterwards, which is the way to serve or
// dial from a node. A panic in fn is re-raised in the caller.
func (n *Node) Do(fn func() error) error {
	if !n.net.life.acquire() {
		return fmt.Errorf("%s: %w", n.where(), ErrClosed)
	}
	// The namespace's descriptor is needed only to enter it: release the
	// network as soon as the thread is inside, so that Close does not wait
	// for fn.
	released := false
	release := func() {
		if !released {
			released = true
			n.net.life.release()
		}
	}
	err := n.ns.do(func() error {
		release()
		return fn()
	})
	release() // when entering failed, the wrapper did not run
	var ee *enterError
	if errors.As(err, &ee) {
		return fmt.Errorf("%s: %w", n.where(), err)
	}
	return err
}

// Netlink runs fn with a netlink handle whose socket lives in the node's
// namespace: link, address, route and neighbour calls on it act inside the
// node, from any goroutine. It returns fn's error, or, once the Network is
// closed, an error wrapping [ErrClosed] without calling fn.
//
// The handle is the Network's: do not close it or keep it after fn returns.
// Close waits for fn to return, so fn must not call Close. Only
// NETLINK_ROUTE requests are safe on it: the handle opens sockets of other
// families (XFRM, generic netlink) in the calling thread's namespace, not
// the node's. Its NETLINK_ROUTE requests never do: made on a handle kept
// past Close, they fail.
func (n *Node) Netlink(fn func(h *netlink.Handle) error) error {
	if !n.net.life.acquire() {
		return fmt.Errorf("%s: netlink: %w", n.where(), ErrClosed)
	}
	defer n.net.life.release()
	return n.ns.nl.do(fn)
}

// NetNS returns a file descriptor of the node's namespace, for netns.Set,
// setns(2) and netlink.NewHandleAt. (A built node's namespace is held
// without a descriptor, see Build; NetNS opens one at its first call.) It
// is owned by the Network and valid until Close: do not close it, and do not use it after Close (the
// process may then reuse its number for another file). Once the Network is
// closed NetNS returns an error wrapping [ErrClosed] and a handle that every
// system call rejects (not netns.None(), which netns and netlink take to
// mean the calling thread's own namespace).
func (n *Node) NetNS() (netns.NsHandle, error) {
	if !n.net.life.acquire() {
		return closedNS, fmt.Errorf("%s: namespace descriptor: %w", n.where(), ErrClosed)
	}
	defer n.net.life.release()
	fd, err := n.ns.keepFD()
	if err != nil {
		return closedNS, fmt.Errorf("%s: namespace descriptor: %w", n.where(), err)
	}
	return fd, nil
}

// NetNSPath returns a path that opens the node's namespace, such as
// "/proc/4242/fd/7", for tools that take a namespace path (nsenter
// --net=PATH). The path names the descriptor NetNS returns: it is valid
// until Close. Once the Network is closed NetNSPath returns an error
// wrapping [ErrClosed].
func (n *Node) NetNSPath() (string, error) {
	fd, err := n.NetNS()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("/proc/%d/fd/%d", unix.Getpid(), int(fd)), nil
}

// Interfaces returns the node's interfaces (not lo) in the order of the
// topology.
func (n *Node) Interfaces() []*Interface { return append([]*Interface(nil), n.ifaces...) }

// Interface returns the interface of that name.
func (n *Node) Interface(name string) (*Interface, error) {
	for _, in := range n.ifaces {
		if in.p.name == name {
			return in, nil
		}
	}
	return nil, fmt.Errorf("nettest: node %s has no interface %q (it has %s)", n.p.name, name, strings.Join(n.p.ifaceNames(), ", "))
}

// Addrs returns every address of the node with its prefix, interfaces in order.
func (n *Node) Addrs() []netip.Prefix {
	var out []netip.Prefix
	for _, in := range n.ifaces {
		out = append(out, in.p.addrs...)
	}
	return out
}

// Addr returns the node's first address of family f, interfaces in order.
func (n *Node) Addr(f Family) (netip.Addr, error) {
	for _, in := range n.ifaces {
		if a, err := in.Addr(f); err == nil {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("nettest: node %s has no %s address", n.p.name, f)
}

// Routes returns the node's configured static routes, the automatic ones
// included, in the syntax of the topology.
func (n *Node) Routes() []Route {
	var out []Route
	for _, rp := range n.p.routes {
		out = append(out, rp.r)
	}
	return out
}

// addBridge creates the switch's bridge, up, without STP or multicast
// snooping: ports forward at once and IPv6 neighbour discovery floods.
func (n *Node) addBridge() error {
	br := n.ifaces[0]
	snoop := false
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.Index, attrs.Flags = br.p.name, br.p.index, net.FlagUp
	attrs.MTU = br.p.mtu
	attrs.HardwareAddr = derivedMAC(n.p.name + "/" + br.p.name)
	if err := n.ns.nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs, MulticastSnooping: &snoop}); err != nil {
		return fmt.Errorf("%s: creating bridge %s: %w", n.where(), br.p.name, kernelError("bridge", err))
	}
	return nil
}

// writeSysctls writes the user's sysctls inside the node.
func (n *Node) writeSysctls() error {
	if len(n.p.sysctls) == 0 {
		return nil
	}
	var bad sysctlPlan
	err := n.ns.do(func() error {
		for _, sc := range n.p.sysctls {
			if err := writeSysctl(sc.path, sc.value); err != nil {
				bad = sc
				return err
			}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if bad.key == "" {
		return fmt.Errorf("%s: %w", n.where(), err)
	}
	// The kernel refused a value of the topology: a ConfigError that
	// names the node and the sysctl, with the kernel's error as cause.
	c := nodeAt(n.p.idx, n.p.name)
	c.Sysctl, c.Field, c.Value, c.Problem, c.Err = bad.key, "Value", bad.value, err.Error(), err
	return fmt.Errorf("nettest: %w", &c)
}

// addRoutes installs the node's routes (those only accepts, if given), in
// batches (installRoutes). With replace, it re-installs them (after a link
// came back up).
func (n *Node) addRoutes(replace bool, only func(*routePlan) bool) error {
	op := routeAdd
	if replace {
		op = routeReplace
	}
	changes := make([]routeChange, 0, len(n.p.routes))
	for _, rp := range n.p.routes {
		if only == nil || only(rp) {
			changes = append(changes, routeChange{op: op, rp: rp})
		}
	}
	return n.installRoutes("", changes)
}

// RouteInfo is the kernel's answer to a route lookup.
type RouteInfo struct {
	// Dst is the address looked up.
	Dst netip.Addr
	// Via is the gateway; the zero Addr when Dst is on a connected subnet.
	Via netip.Addr
	// Dev names the outgoing interface ("lo" for the node's own addresses).
	Dev string
	// Src is the source address the kernel would use.
	Src netip.Addr
}

// String formats the answer as ip-route(8) prints it: "198.18.0.9 via 198.18.0.2 dev eth0 src 198.18.0.1".
func (r RouteInfo) String() string {
	s := r.Dst.String()
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Src.IsValid() {
		s += " src " + r.Src.String()
	}
	return s
}

// ErrNoRoute is wrapped by RouteGet's error when the node's kernel has no
// route to the destination (ENETUNREACH, or an unreachable, prohibit or
// blackhole route).
var ErrNoRoute = errors.New("no route")

// RouteGet asks the node's kernel which route it would use to reach dst
// (ip route get). A multipath route answers with the path the kernel picks
// for this lookup.
func (n *Node) RouteGet(dst netip.Addr) (RouteInfo, error) {
	var routes []netlink.Route
	var dev string
	err := n.net.use("node "+n.p.name, func() (err error) {
		routes, err = n.ns.nl.RouteGet(dst.AsSlice())
		if err == nil && len(routes) > 0 {
			dev = n.ifaceName(routes[0].LinkIndex)
		}
		return err
	})
	if errors.Is(err, ErrClosed) {
		return RouteInfo{Dst: dst}, err
	}
	if err != nil {
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EINVAL) {
			return RouteInfo{Dst: dst}, fmt.Errorf("nettest: node %s: route to %s: %w (%v)", n.p.name, dst, ErrNoRoute, err)
		}
		return RouteInfo{Dst: dst}, fmt.Errorf("nettest: node %s: route to %s: %w", n.p.name, dst, err)
	}
	if len(routes) == 0 {
		return RouteInfo{Dst: dst}, fmt.Errorf("nettest: node %s: route to %s: %w (empty answer)", n.p.name, dst, ErrNoRoute)
	}
	r := routes[0]
	info := RouteInfo{Dst: dst, Dev: dev}
	if a, ok := netip.AddrFromSlice(r.Gw); ok && r.Gw != nil {
		info.Via = a.Unmap()
	}
	if a, ok := netip.AddrFromSlice(r.Src); ok && r.Src != nil {
		info.Src = a.Unmap()
	}
	return info, nil
}

// ifaceName names an interface index of this node.
func (n *Node) ifaceName(index int) string {
	if index == 1 {
		return "lo"
	}
	for _, in := range n.ifaces {
		if in.index() == index {
			return in.p.name
		}
	}
	if l, err := n.ns.nl.LinkByIndex(index); err == nil {
		return l.Attrs().Name
	}
	return fmt.Sprintf("if%d", index)
}
