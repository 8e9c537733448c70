package assertions

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/nettestlab/nettest/nettest"
)

// Ping checks that every echo request from the node from to the target to
// is answered: over each address family the target has, or those chosen
// with [IPv4] and [IPv6]. from is a node, or "node:iface" ("node:lo") to
// send from that interface's (loopback's) address; to is a node,
// "node:iface", "node:lo" or an address. Options:
// [Count], [Interval], [Timeout], [IPv4], [IPv6], [Within], [Every].
//
// The failure says how many replies came and how from's kernel routes the
// destination:
//
//	ping h1 -> h2 (198.18.0.14): 0/1 replies within 1s; h1's kernel routes it: 198.18.0.14 via 198.18.0.2 dev eth0 src 198.18.0.1
func Ping(t TestingT, n *nettest.Network, from, to string, opts ...PingOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return check(t, "Ping", n, options(opts, PingOption.pingOption), pingCheck(n, from, to, true))
}

// NoPing checks that no echo request from the node from to the target to
// is answered; lost replies and an unreachable destination both pass.
// Targets and options are those of [Ping]. The failure gives the replies:
//
//	ping h1 -> h3 (198.18.0.22): 1/1 replies, rtt min/avg/max 0.061/0.061/0.061 ms, want none
func NoPing(t TestingT, n *nettest.Network, from, to string, opts ...PingOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return check(t, "NoPing", n, options(opts, PingOption.pingOption), pingCheck(n, from, to, false))
}

// pingLeg is one ping of a check: one source, one destination address.
type pingLeg struct {
	from    *nettest.Node
	src     netip.Addr // zero: the kernel chooses
	dst     netip.Addr
	to      target
	subject string
}

func pingCheck(n *nettest.Network, from, to string, answered bool) func(config) (try, error) {
	return func(c config) (try, error) {
		legs, err := pingLegs(n, c, from, to)
		if err != nil {
			return nil, fmt.Errorf("ping %s -> %s: %w", from, to, err)
		}
		return func() ([]finding, error) {
			return parallel(len(legs), func(i int) (finding, error) { return legs[i].ping(c, answered) })
		}, nil
	}
}

// pingLegs resolves a ping's source and target: one leg per family.
func pingLegs(n *nettest.Network, c config, from, to string) ([]pingLeg, error) {
	src, err := resolve(n, from, false)
	if err != nil {
		return nil, err
	}
	if src.Node == nil {
		return nil, fmt.Errorf("source %s: want a node or node:iface", from)
	}
	dst, err := resolve(n, to, false)
	if err != nil {
		return nil, err
	}
	fams, err := familiesFor(c, dst)
	if err != nil {
		return nil, err
	}
	var legs []pingLeg
	for _, f := range fams {
		leg := pingLeg{from: src.Node, to: dst}
		if leg.dst, err = dst.addrOf(f); err != nil {
			return nil, err
		}
		if src.Interface != nil || src.Loopback {
			if leg.src, err = src.addrOf(f); err != nil {
				return nil, err
			}
		}
		leg.subject = fmt.Sprintf("ping %s -> %s", from, dst.label(leg.dst.String()))
		legs = append(legs, leg)
	}
	return legs, nil
}

// ping pings once and judges: answered wants every reply, else none.
func (l pingLeg) ping(c config, answered bool) (finding, error) {
	return l.pingWith(c, answered, l.from.Ping)
}

// pingWith is ping with the given ping function: the source node's
// [nettest.Node.Ping], or a [nettest.Pinger]'s.
func (l pingLeg) pingWith(c config, answered bool, ping func(context.Context, netip.Addr, ...nettest.PingOption) (nettest.PingResult, error)) (finding, error) {
	res, err := ping(c.ctx, l.dst, nettest.PingCount(c.count), nettest.PingInterval(c.interval),
		nettest.PingTimeout(c.timeout), nettest.PingSrc(l.src))
	if err != nil && !errors.Is(err, nettest.ErrNoReply) {
		return finding{}, fmt.Errorf("%s: %w", l.subject, err)
	}
	f := finding{subject: l.subject, seen: res.String()}
	if answered {
		f.ok = err == nil
		if !f.ok {
			f.note = routeNote(l.from, l.dst)
		}
	} else {
		f.ok, f.want = res.Received == 0, "none"
	}
	return f, nil
}

// parallel runs count parts of a check at once and returns their findings
// in order, or the first error.
func parallel(count int, part func(i int) (finding, error)) ([]finding, error) {
	fs := make([]finding, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() { fs[i], errs[i] = part(i) })
	}
	wg.Wait()
	return fs, errors.Join(errs...)
}
