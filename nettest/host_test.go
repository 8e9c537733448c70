package nettest_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/hoststate"
	"github.com/nettestlab/nettest/internal/icmpping"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestHostUntouched builds, uses and closes several topologies through the
// public API and proves that the host's network namespace is exactly as it
// was (links, addresses, routes of every table, rules, forwarding sysctls,
// nftables, iptables tables, named namespaces), and that no thread of the
// process was left in a topology's namespace.
//
// It must not run in parallel with other tests of this process, which may
// be inside a namespace while it counts threads. Other processes making
// named namespaces (nettest-*) at the same time would show in the Diff.
func TestHostUntouched(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	before, err := hoststate.Take()
	require.NoError(t, err)

	t.Run("pair with user addresses", func(t *testing.T) {
		n := build(t, nettest.Topology{
			Name:  "host-pair",
			Nodes: []nettest.NodeConfig{{Name: "a"}, {Name: "b"}},
			Links: []nettest.LinkConfig{{
				A: nettest.Endpoint{Node: "a", Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.1.1/24")}},
				B: nettest.Endpoint{Node: "b", Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.1.2/24")}},
			}},
		})
		ping(t, node(t, n, "a"), netip.MustParseAddr("10.1.1.2"))
		ping(t, node(t, n, "b"), netip.MustParseAddr("10.1.1.1"))
		hostDoMany(t, n)
		require.NoError(t, n.Close())
	})

	t.Run("chain with a link down and up", func(t *testing.T) {
		n := build(t, mustTopology(t, nettest.NewBuilder("host-chain").
			Host("h1", "h2").Router("r1", "r2").Chain("h1", "r1", "r2", "h2")))
		h1, h2 := node(t, n, "h1"), node(t, n, "h2")
		for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
			ping(t, h1, addr(t, n, "h2", f))
			ping(t, h2, addr(t, n, "h1", f))
		}
		l, err := n.Link("r1-r2")
		require.NoError(t, err)
		require.NoError(t, l.SetDown())
		_, err = icmpping.Ping(h1, addr(t, n, "h2", nettest.IPv4), 200*time.Millisecond)
		require.Error(t, err, "ping across a link that is down")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, l.SetUp(ctx))
		for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
			ping(t, h1, addr(t, n, "h2", f))
		}
		hostDoMany(t, n)
		require.NoError(t, n.Close())
	})

	t.Run("LAN", func(t *testing.T) {
		n := build(t, mustTopology(t, nettest.NewBuilder("host-lan").
			Host("l1", "l2", "l3").LAN("lan0", []string{"l1", "l2", "l3"})))
		l1 := node(t, n, "l1")
		for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
			ping(t, l1, addr(t, n, "l2", f))
			ping(t, l1, addr(t, n, "l3", f))
		}
		hostDoMany(t, n)
		require.NoError(t, n.Close())
	})

	t.Run("router with sysctls", func(t *testing.T) {
		n := build(t, nettest.Topology{
			Name: "host-sysctl",
			Nodes: []nettest.NodeConfig{
				{Name: "s1"},
				{Name: "fw", Kind: nettest.Router, Sysctls: map[string]string{"net.ipv4.conf.all.rp_filter": "1"}},
				{Name: "s2"},
			},
			Links: []nettest.LinkConfig{
				{A: nettest.Endpoint{Node: "s1"}, B: nettest.Endpoint{Node: "fw"}},
				{A: nettest.Endpoint{Node: "fw"}, B: nettest.Endpoint{Node: "s2"}},
			},
			Auto: nettest.Auto{IPv4: true, IPv6: true, Routes: true},
		})
		fw := node(t, n, "fw")
		// The settings hold inside the router, where they were asked for.
		require.Equal(t, "1", readSysctl(t, fw, "/proc/sys/net/ipv4/conf/all/rp_filter"))
		require.Equal(t, "1", readSysctl(t, fw, "/proc/sys/net/ipv4/ip_forward"))
		s1, s2 := node(t, n, "s1"), node(t, n, "s2")
		for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
			ping(t, s1, addr(t, n, "s2", f))
			ping(t, s2, addr(t, n, "s1", f))
		}
		hostDoMany(t, n)
		require.NoError(t, n.Close())
	})

	after, err := hoststate.Take()
	require.NoError(t, err)
	require.Empty(t, hoststate.Diff(before, after), "the host's network state changed")
	threads, err := hoststate.ThreadsOutside()
	require.NoError(t, err)
	require.Empty(t, threads, "threads left outside the host's network namespace")
}

// hostDoMany runs Node.Do many times on every node and switch, from many
// goroutines at once, with functions that succeed, fail and panic, and
// checks that each runs inside its node and not in the host.
func hostDoMany(t *testing.T, n *nettest.Network) {
	t.Helper()
	hostNS, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	nodes := append(n.Nodes(), n.Switches()...)
	errFail := errors.New("fn failed on purpose")
	const goroutines, rounds = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*rounds*len(nodes))
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for _, nd := range nodes {
					errs <- hostDoOnce(nd, hostNS, errFail, (g+r)%3)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// hostDoOnce runs one Node.Do; mode 0 succeeds, 1 fails, 2 panics.
func hostDoOnce(nd *nettest.Node, hostNS string, errFail error, mode int) (err error) {
	var inside string
	defer func() {
		p := recover()
		switch {
		case err != nil:
		case mode == 2 && p == nil:
			err = fmt.Errorf("node %s: Do did not re-raise the panic", nd)
		case mode != 2 && p != nil:
			err = fmt.Errorf("node %s: unexpected panic %v", nd, p)
		case inside == "" || inside == hostNS:
			err = fmt.Errorf("node %s: fn ran in %q, the host is %q", nd, inside, hostNS)
		}
	}()
	doErr := nd.Do(func() error {
		var rerr error
		inside, rerr = os.Readlink("/proc/thread-self/ns/net")
		if rerr != nil {
			return rerr
		}
		switch mode {
		case 1:
			return errFail
		case 2:
			panic("on purpose")
		}
		return nil
	})
	if mode == 1 {
		if !errors.Is(doErr, errFail) {
			return fmt.Errorf("node %s: Do returned %v, want the function's error", nd, doErr)
		}
		return nil
	}
	return doErr
}
