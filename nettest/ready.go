package nettest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nettestlab/nettest/internal/ready"
)

// readyTimeout bounds the wait for interfaces to come up when the caller's
// context has no earlier deadline.
const readyTimeout = 10 * time.Second

// waitReady returns when every interface of the nodes that nettest set up
// is ready to carry packets, or says which are not.
//
// "Ready" is the kernel's own test (addrconf_link_ready): operstate UP and
// the transmit queue activated. A veth's carrier comes on when both ends are
// up; the kernel's linkwatch then sets operstate, activates the queue and
// announces the change, in that order, and a packet sent before the queue is
// active is dropped. Operstate alone can be seen too early, so where IPv6 is
// on, the interface's IPv6 IF_READY flag, which the kernel sets only after
// the queue is active, must be set too.
//
// An IPv6 address added without DAD is usable at once as a source, but the
// kernel joins its solicited-node multicast group later, from a work queue;
// until then a neighbour's first solicitation for it is dropped and
// resolution waits a second for the retry. So the groups of every IPv6
// address must be joined as well.
//
// The kernel makes each interface's IPv6 link-local address itself, and
// even without DAD it stays tentative until a work queue gets to it. Until
// then a router forwarding a packet cannot solicit the next hop (the
// solicitation needs a usable link-local source) and the packet waits a
// second for the retry. So, in a topology with IPv6 addresses (where DAD is
// off), an interface's link-local address, if it has one, must be usable
// too.
func waitReady(ctx context.Context, nodes []*Node) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ipv6 := len(nodes) > 0 && nodes[0].net.plan.hasIPv6()
	for _, node := range nodes {
		if err := node.waitReady(ctx, ipv6); err != nil {
			return err
		}
	}
	return nil
}

// waitReady is waitReady for one node, until ctx ends.
func (node *Node) waitReady(ctx context.Context, ipv6 bool) error {
	pause := 20 * time.Microsecond
	for {
		pending, err := node.notReady(ipv6)
		if err != nil {
			return fmt.Errorf("%s: listing interfaces: %w", node.where(), err)
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: interfaces not ready: %s: %w", node.where(), strings.Join(pending, ", "), ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Millisecond)
	}
}

// notReady lists the node's interfaces that should be up but are not ready
// yet, each with the state the kernel reports. ipv6 says whether the
// topology has IPv6 addresses.
func (n *Node) notReady(ipv6 bool) ([]string, error) {
	var ifaces []ready.Iface
	for _, in := range n.ifaces {
		if !in.up.Load() {
			continue
		}
		if p := in.Peer(); p != nil && !p.up.Load() && !in.isTap() {
			continue // a veth end whose other end is down has no carrier
		}
		ifaces = append(ifaces, ready.Iface{Name: in.p.name, Index: in.index(), Tap: in.isTap(), Addrs: in.p.addrs})
	}
	var pending []string
	err := n.ns.with(func(c *nsConn) (err error) {
		pending, err = ready.Pending(c.raw, ifaces, ipv6)
		return err
	})
	return pending, err
}

// readyAndLearn waits for each node's interfaces to be ready, as waitReady
// does, and then installs the node's neighbour entries for its own
// interfaces (as learnNeighbours does for them), node by node on as many
// goroutines as there are CPUs, reporting progress (stage "ready") from the
// caller's goroutine. It returns the first error met.
func readyAndLearn(ctx context.Context, nodes []*Node, report func(Progress)) error {
	if len(nodes) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ipv6 := nodes[0].net.plan.hasIPv6()
	var next, done atomic.Int64
	var mu sync.Mutex
	var first error
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(nodes)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(nodes) {
					return
				}
				node := nodes[i]
				if err := node.waitReady(ctx, ipv6); err != nil {
					fail(err)
					return
				}
				var own []*Interface
				for _, in := range node.ifaces {
					if p := in.Peer(); in.up.Load() && (p == nil || p.up.Load()) {
						own = append(own, in)
					}
				}
				if err := node.learnNeighbours(own); err != nil {
					fail(err)
					return
				}
				done.Add(1)
			}
		})
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	tick := time.NewTicker(progressTick)
	defer tick.Stop()
	for {
		select {
		case <-finished:
			return first
		case <-tick.C:
			report(Progress{Stage: "ready", Done: int(done.Load()), Total: len(nodes)})
		}
	}
}
