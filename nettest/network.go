package nettest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Network is a live topology: one network namespace per node and per LAN
// switch, joined by veth pairs. Build makes one; Close removes it. Its methods
// are safe for concurrent use.
type Network struct {
	name     string
	plan     *plan
	nodes    []*Node // user nodes, then switches
	byName   map[string]*Node
	links    []*Link
	linkByID map[string]*Link

	mu        sync.Mutex // guards link state changes and persisted
	persisted []string   // bind mounts made by Persist
	life      life       // in-flight uses of the namespaces, for Close

	closeOnce sync.Once
	closeErr  error

	cmds []*Cmd // commands started in nodes; guarded by mu

	// autoNow holds every node's automatic routes as installed now, once
	// they have followed a link change (see reroute), and rerouted counts
	// the reroutes; both guarded by mu.
	autoNow  map[*nodePlan]map[routeKey]*autoRoute
	rerouted uint64

	files nodeFiles // the nodes' own /etc, /run, /tmp, ... (nodefiles.go)

	dir *nsDir // where the namespaces are held (nshold.go); nil: by descriptors
}

// Build creates the topology and returns when it is ready: every interface
// up (operstate checked) with its addresses usable, every route installed,
// and every node knowing the link-layer addresses of its neighbours (so a
// first packet never waits for, or is lost to, address resolution).
// On error nothing of the topology is left behind. Cancelling ctx stops the
// build; a ctx without deadline gets none, but waiting for interfaces is
// bounded (10s) and says what it last saw.
//
// The nodes' namespaces are held without a file descriptor each (bind
// mounts in a mount namespace private to the process, which vanish with
// it), and their netlink sockets are open only while they are used (at
// most an eighth of the open-file limit's worth): a topology's size is not
// bounded by ulimit -n.
//
// Build needs CAP_SYS_ADMIN and CAP_NET_ADMIN; without them the error wraps
// [ErrPrivilege] and says how to run. A nil ctx is an error, as it is for
// every method of the package that takes a context.
func Build(ctx context.Context, t Topology) (*Network, error) {
	if ctx == nil {
		return nil, nilContext("nettest", "Build")
	}
	p, err := t.resolve()
	if err != nil {
		return nil, err
	}
	return build(ctx, p)
}

func build(ctx context.Context, p *plan) (_ *Network, err error) {
	if err := CheckPrivilege(); err != nil {
		return nil, err
	}
	name := p.name
	if name == "" {
		var b [4]byte
		rand.Read(b[:])
		name = "t" + hex.EncodeToString(b[:])
	}
	n := newNetwork(p, name)
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
		}
	}()
	report := progressOf(ctx)
	// Namespaces.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nettest: building %s: %w", n.name, err)
	}
	report(Progress{Stage: "namespaces", Total: len(n.nodes)})
	specs := make([]func() [][2]string, len(n.nodes))
	ipv6 := p.hasIPv6()
	for i, node := range n.nodes {
		router, isSwitch, quiet := node.p.kind == Router, node.p.isSwitch, !ipv6 && node.p.onLAN()
		specs[i] = func() [][2]string {
			if isSwitch {
				return switchSysctls
			}
			if quiet {
				return append(nodeSysctls(router, ipv6), lanMemberIPv4OnlySysctls...)
			}
			return nodeSysctls(router, ipv6)
		}
	}
	// Held by bind mounts in the holder (nshold.go), not by a descriptor
	// each; where the holder cannot be made, by descriptors.
	refreshConnCap()
	if n.dir, err = newNSDir(); err != nil {
		n.dir = nil
	}
	nss, err := makeNamespaces(specs, n.dir, report)
	if err != nil {
		return nil, fmt.Errorf("nettest: building %s: %w", n.name, err)
	}
	for i, node := range n.nodes {
		node.ns = nss[i]
	}
	report(Progress{Stage: "namespaces", Done: len(n.nodes), Total: len(n.nodes)})
	// Switches' bridges, then veth pairs.
	for _, node := range n.nodes {
		if node.p.isSwitch {
			if err := node.addBridge(); err != nil {
				return nil, err
			}
		}
	}
	for i, l := range n.links {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("nettest: building %s: %w", n.name, err)
		}
		if err := l.create(); err != nil {
			return nil, err
		}
		// Both ends' addresses at once, while their nodes' sockets are
		// open (see conns).
		for _, in := range []*Interface{l.a, l.b} {
			if err := in.addAddrs(false); err != nil {
				return nil, err
			}
			in.addrsAdded = true
		}
		report(Progress{Stage: "links", Done: i + 1, Total: len(n.links)})
	}
	// The other interfaces' addresses (bridges), the user's sysctls, routes.
	for i, node := range n.nodes {
		report(Progress{Stage: "addresses", Done: i, Total: len(n.nodes)})
		for _, in := range node.ifaces {
			if in.addrsAdded {
				continue
			}
			if err := in.addAddrs(false); err != nil {
				return nil, err
			}
		}
		if err := node.addLoopback(); err != nil {
			return nil, err
		}
		if err := node.writeSysctls(); err != nil {
			return nil, err
		}
	}
	if err := n.addAllRoutes(ctx, report); err != nil {
		return nil, err
	}
	for _, node := range n.nodes {
		if err := node.addRules(); err != nil {
			return nil, err
		}
	}
	report(Progress{Stage: "ready", Total: len(n.nodes)})
	// Every node learns its neighbours once its interfaces are ready:
	// resolving them on first use needs room in the host-wide neighbour
	// table, which may be full (see neigh.go).
	if err := readyAndLearn(ctx, n.nodes, report); err != nil {
		return nil, err
	}
	report(Progress{Stage: "ready", Done: len(n.nodes), Total: len(n.nodes)})
	return n, nil
}

// addAllRoutes installs every node's routes (addRoutes), nodes on as many
// goroutines as there are CPUs: the kernel does the work in the sending
// thread. It reports progress from the calling goroutine and returns the
// error of the first node (in topology order) that failed, once every
// goroutine is done.
func (n *Network) addAllRoutes(ctx context.Context, report func(Progress)) error {
	total := len(n.nodes)
	report(Progress{Stage: "routes", Total: total})
	errs := make([]error, total)
	finished := make(chan struct{}, total)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), total) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[i] = fmt.Errorf("nettest: building %s: %w", n.name, err)
				} else {
					errs[i] = n.nodes[i].addRoutes(false, nil)
				}
				finished <- struct{}{}
			}
		})
	}
	for done := 1; done <= total; done++ {
		<-finished
		report(Progress{Stage: "routes", Done: done, Total: total})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Progress is what Build reports as it goes, to the function given to
// WithProgress: the stage ("namespaces", "links", "addresses", "routes",
// "ready") and how far it is into it.
type Progress struct {
	Stage       string
	Done, Total int
}

type progressKey struct{}

// WithProgress returns a context that makes Build call report as it works
// (a progress display for a large topology). report is called from Build's
// goroutine, often: it should be quick. ctx must not be nil (as for
// context.WithValue, which panics).
func WithProgress(ctx context.Context, report func(Progress)) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

func progressOf(ctx context.Context) func(Progress) {
	if f, ok := ctx.Value(progressKey{}).(func(Progress)); ok && f != nil {
		return f
	}
	return func(Progress) {}
}

// progressTick is how often Build reports the progress of its parallel
// stages (namespaces, ready).
var progressTick = 100 * time.Millisecond

// makeNamespaces is newNamespaces for Build: it reports, from the caller's
// goroutine, how many are made as it goes.
func makeNamespaces(specs []func() [][2]string, dir *nsDir, report func(Progress)) ([]*namespace, error) {
	var made atomic.Int64
	type result struct {
		nss []*namespace
		err error
	}
	done := make(chan result, 1)
	go func() {
		nss, err := newNamespaces(specs, dir, &made)
		done <- result{nss, err}
	}()
	tick := time.NewTicker(progressTick)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return r.nss, r.err
		case <-tick.C:
			report(Progress{Stage: "namespaces", Done: int(made.Load()), Total: len(specs)})
		}
	}
}

// newNetwork makes the live objects of a plan: nodes, their interfaces
// (set up), links; no namespace yet.
func newNetwork(p *plan, name string) *Network {
	n := &Network{name: name, plan: p, byName: map[string]*Node{}, linkByID: map[string]*Link{}}
	for _, np := range p.nodes {
		node := &Node{net: n, p: np}
		for _, ip := range np.ifaces {
			ip.live = newInterface(node, ip)
			node.ifaces = append(node.ifaces, ip.live)
		}
		n.nodes = append(n.nodes, node)
		n.byName[np.name] = node
	}
	for _, lp := range p.links {
		l := &Link{net: n, p: lp, a: n.iface(lp.a), b: n.iface(lp.b)}
		l.a.link, l.b.link = l, l
		n.links = append(n.links, l)
		n.linkByID[lp.name] = l
	}
	return n
}

// Name returns the topology's name, or the random one Build chose.
func (n *Network) Name() string { return n.name }

// Nodes returns the hosts and routers in topology order (not the LAN switches).
func (n *Network) Nodes() []*Node {
	var out []*Node
	for _, node := range n.nodes {
		if !node.p.isSwitch {
			out = append(out, node)
		}
	}
	return out
}

// Switches returns the namespaces of the LANs' bridges, in topology order.
func (n *Network) Switches() []*Node {
	var out []*Node
	for _, node := range n.nodes {
		if node.p.isSwitch {
			out = append(out, node)
		}
	}
	return out
}

// Node returns the node (or LAN switch) of that name. The error lists the
// names that exist.
func (n *Network) Node(name string) (*Node, error) {
	if node := n.byName[name]; node != nil {
		return node, nil
	}
	var names []string
	for _, node := range n.nodes {
		names = append(names, node.p.name)
	}
	return nil, fmt.Errorf("nettest: %s has no node %q (it has %s)", n.name, name, strings.Join(names, ", "))
}

// Links returns the veth pairs: the topology's links, then one per LAN member
// (named "lan:port").
func (n *Network) Links() []*Link { return append([]*Link(nil), n.links...) }

// Link returns a link by its name ("r1-r2", or the Name in its LinkConfig) or
// by either of its ends ("r1:eth0").
func (n *Network) Link(ref string) (*Link, error) {
	if l := n.linkByID[ref]; l != nil {
		return l, nil
	}
	if t, err := n.Lookup(ref); err == nil && t.Interface != nil && t.Interface.link != nil {
		return t.Interface.link, nil
	}
	var names []string
	for _, l := range n.links {
		names = append(names, l.p.name)
	}
	return nil, fmt.Errorf("nettest: %s has no link %q (links: %s; or name an end as node:iface)", n.name, ref, strings.Join(names, ", "))
}

// Addr returns an address of family f by reference: "node" gives the node's
// first address of that family (interfaces in order), "node:iface" the
// interface's first, "node:lo" the node's loopback address.
func (n *Network) Addr(ref string, f Family) (netip.Addr, error) {
	t, err := n.lookupNode(ref)
	switch {
	case err != nil:
		return netip.Addr{}, err
	case t.Loopback:
		return t.Node.LoopbackAddr(f)
	case t.Interface != nil:
		return t.Interface.Addr(f)
	}
	return t.Node.Addr(f)
}

// AddrOn returns node's address of family f on a segment: a link (by its
// name, "r1-r2") or a LAN (by its name). The error names the segments the
// node is on.
func (n *Network) AddrOn(node, segment string, f Family) (netip.Addr, error) {
	nd, err := n.Node(node)
	if err != nil {
		return netip.Addr{}, err
	}
	var on []string
	for _, in := range nd.ifaces {
		if in.p.seg == nil {
			continue
		}
		on = append(on, in.p.seg.name)
		if in.p.seg.name == segment {
			if a, err := in.Addr(f); err == nil {
				return a, nil
			}
			return netip.Addr{}, fmt.Errorf("nettest: %s has no %s address on %s", in, f, segment)
		}
	}
	return netip.Addr{}, fmt.Errorf("nettest: node %s is not on %q (it is on %s)", node, segment, strings.Join(on, ", "))
}

// Close removes the topology: it releases every namespace, so the kernel
// destroys them with their interfaces and routes. Namespaces made persistent
// with Persist stay. Close waits for calls in progress (entering a node in
// Do, route lookups, links going up) to finish; later calls fail with "the
// network is closed". Code still running inside a node after entering it
// keeps that namespace alive until it returns. Close is idempotent: later
// calls return the first call's result, which joins every error met.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		n.life.end()
		var errs []error
		// Commands still running keep their node's namespace alive: end
		// them, and everything they started, at once.
		n.mu.Lock()
		cmds := n.cmds
		n.mu.Unlock()
		for _, c := range cmds {
			if !c.Exited() {
				c.cmd.Process.Kill()
			}
		}
		for _, c := range cmds {
			<-c.done
		}
		for _, l := range n.links {
			if l.tap != nil {
				if err := l.tap.Close(); err != nil {
					errs = append(errs, fmt.Errorf("nettest: link %s: closing its TAP devices: %w", l.p.name, err))
				}
			}
		}
		for i := len(n.nodes) - 1; i >= 0; i-- {
			node := n.nodes[i]
			if err := node.ns.close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: closing its namespace: %w", node.where(), err))
			}
		}
		if err := n.dir.release(); err != nil {
			errs = append(errs, fmt.Errorf("nettest: %s: %w", n.name, err))
		}
		if err := n.files.close(); err != nil {
			errs = append(errs, fmt.Errorf("nettest: removing the nodes' own files: %w", err))
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// use runs f while holding the network open, or fails if it is closed.
func (n *Network) use(what string, f func() error) error {
	if !n.life.acquire() {
		return fmt.Errorf("nettest: %s: %w", what, ErrClosed)
	}
	defer n.life.release()
	return f()
}

func (n *Network) iface(ip *ifacePlan) *Interface { return ip.live }

// ipnet converts a prefix to the net.IPNet netlink wants, keeping the address.
func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// netlinkFamily returns netlink's family constant.
func netlinkFamily(f Family) int {
	if f == IPv6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}
