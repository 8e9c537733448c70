package nettest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SetDown sets this end of its link administratively down: the other end
// stays up but loses its carrier (a veth pair), as when one side of a cable
// is unplugged. The kernel drops the routes through this end.
func (in *Interface) SetDown() error {
	return in.node.net.use("interface "+in.String(), func() error {
		in.node.net.mu.Lock()
		defer in.node.net.mu.Unlock()
		if err := in.node.ns.nl.LinkSetDown(in.netlinkLink()); err != nil {
			return fmt.Errorf("nettest: setting %s down: %w", in, err)
		}
		in.up.Store(false)
		return in.node.net.reroute()
	})
}

// SetUp brings this end back up, restores what the kernel dropped (its
// addresses, the node's routes through it) and returns when both ends of
// its link are ready again (if the other end is up).
func (in *Interface) SetUp(ctx context.Context) error {
	if ctx == nil {
		return nilContext("nettest: interface "+in.String(), "SetUp")
	}
	return in.node.net.use("interface "+in.String(), func() error {
		in.node.net.mu.Lock()
		wait, err := in.bringUp()
		if err == nil {
			err = in.node.net.reroute()
		}
		in.node.net.mu.Unlock()
		if err != nil {
			return err
		}
		if err := waitReady(ctx, wait); err != nil {
			return err
		}
		// This end's entries went when it went down; the other end's when
		// it lost its carrier.
		return in.node.net.relearnNeighbours(in)
	})
}

// bringUp sets the interface up and restores its addresses and routes,
// with the network's lock held, and returns the nodes to wait for (none
// while the other end is down: there is no carrier to wait for).
func (in *Interface) bringUp() ([]*Node, error) {
	if err := in.node.ns.nl.LinkSetUp(in.netlinkLink()); err != nil {
		return nil, fmt.Errorf("nettest: setting %s up: %w", in, err)
	}
	wasUp := in.up.Swap(true)
	if err := in.addAddrs(true); err != nil {
		return nil, err
	}
	if !wasUp {
		// A down right after the last up may have cost an address its
		// local route (see renewIPv6Addrs).
		if err := in.renewIPv6Addrs(); err != nil {
			return nil, err
		}
	}
	follow := in.node.net.followsLinks()
	err := in.node.addRoutes(true, func(rp *routePlan) bool {
		if rp.auto && follow {
			return false // the network's reroute puts them where they belong now
		}
		uses := false
		for _, h := range rp.hops {
			hop := h.dev.live
			if !hop.up.Load() {
				return false
			}
			uses = uses || hop == in
		}
		return uses
	})
	if err != nil {
		return nil, err
	}
	p := in.Peer()
	if p != nil && !p.up.Load() {
		return nil, nil
	}
	nodes := []*Node{in.node}
	if p != nil {
		nodes = append(nodes, p.node)
	}
	return nodes, nil
}

// Partition cuts the given nodes off from the rest of the topology: every
// link with one end among them and the other outside goes down (both ends),
// and so does every LAN attachment of theirs to a LAN that also has members
// outside (so that, on such a LAN, they lose each other too). Heal undoes
// exactly what Partition did. Isolate(node) is Partition of one node.
func (n *Network) Partition(nodes ...string) (*Partition, error) {
	inside := map[*Node]bool{}
	for _, name := range nodes {
		node, err := n.Node(name)
		if err != nil {
			return nil, err
		}
		if node.p.isSwitch {
			return nil, fmt.Errorf("nettest: partition: %s is a LAN's switch; name nodes", name)
		}
		inside[node] = true
	}
	if len(inside) == 0 {
		return nil, errors.New("nettest: partition: no nodes given")
	}
	// A LAN's switch counts as outside when any member is outside.
	mixed := map[*Node]bool{}
	for _, l := range n.links {
		if l.p.lan != nil && !inside[l.b.node] {
			mixed[l.a.node] = true
		}
	}
	p := &Partition{net: n, nodes: slices.Sorted(func(yield func(string) bool) {
		for node := range inside {
			if !yield(node.p.name) {
				return
			}
		}
	})}
	for _, l := range n.links {
		var cut bool
		if l.p.lan != nil {
			cut = inside[l.b.node] && mixed[l.a.node]
		} else {
			cut = inside[l.a.node] != inside[l.b.node]
		}
		if cut && l.IsUp() {
			p.links = append(p.links, l)
		}
	}
	// Every link down first, then one reroute for the whole cut.
	err := n.use("partition "+p.String(), func() error {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, l := range p.links {
			if err := l.cut(); err != nil {
				return err
			}
		}
		return n.reroute()
	})
	if err != nil {
		return nil, errors.Join(err, p.Heal(context.Background()))
	}
	return p, nil
}

// Isolate cuts one node off from every other (see Partition).
func (n *Network) Isolate(node string) (*Partition, error) { return n.Partition(node) }

// Partition is a cut made by Network.Partition.
type Partition struct {
	net   *Network
	nodes []string
	links []*Link
}

// Links returns the links the partition set down.
func (p *Partition) Links() []*Link { return slices.Clone(p.links) }

// String says what was cut: "h1, r1 cut off (links r1-r2, lan:r1 down)".
func (p *Partition) String() string {
	var names []string
	for _, l := range p.links {
		names = append(names, l.p.name)
	}
	return fmt.Sprintf("%s cut off (links %s down)", strings.Join(p.nodes, ", "), strings.Join(names, ", "))
}

// Heal brings back up the links the partition set down and returns when
// they are ready. Healing twice does nothing more.
func (p *Partition) Heal(ctx context.Context) error {
	if ctx == nil {
		return nilContext("nettest: partition "+p.String(), "Heal")
	}
	var errs []error
	for _, l := range p.links {
		if !l.IsUp() {
			errs = append(errs, l.SetUp(ctx))
		}
	}
	return errors.Join(errs...)
}

// Flap takes the link down and up again, times times: down for down, then
// up for up (waiting for it to be ready counts in up). It runs in the
// background; the channel yields its result (nil, or the first error) and
// is closed. Cancelling ctx stops it, leaving the link up.
func (l *Link) Flap(ctx context.Context, down, up time.Duration, times int) <-chan error {
	done := make(chan error, 1)
	if ctx == nil {
		done <- nilContext("nettest: link "+l.p.name, "Flap")
		close(done)
		return done
	}
	go func() {
		defer close(done)
		done <- l.flap(ctx, down, up, times)
	}()
	return done
}

func (l *Link) flap(ctx context.Context, down, up time.Duration, times int) error {
	for i := 0; i < times; i++ {
		if err := l.SetDown(); err != nil {
			return err
		}
		stopped := sleepCtx(ctx, down)
		start := time.Now()
		if err := l.SetUp(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		if stopped || sleepCtx(ctx, up-time.Since(start)) {
			return ctx.Err()
		}
	}
	return nil
}

// sleepCtx sleeps for d and reports whether ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() != nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true
	case <-t.C:
		return false
	}
}
