package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nettestlab/nettest/internal/icmpping"
	"github.com/nettestlab/nettest/nettest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Examples 1-2: the namespaces and the veth pair between them, addressed.
	start := time.Now()
	n, err := nettest.NewBuilder("seed").Auto(nettest.Auto{}).
		Host("red", "blue").
		Link("red:veth-red=10.1.1.1/24", "blue:veth-blue=10.1.1.2/24").
		Build(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Printf("built red and blue, joined by veth-red <-> veth-blue, in %v\n", time.Since(start).Round(time.Microsecond))

	red, err := n.Node("red")
	if err != nil {
		return err
	}
	blue, err := n.Node("blue")
	if err != nil {
		return err
	}

	// Example 3: `ip addr` inside red, as the kernel reports it.
	fmt.Println("\n$ ip netns exec red ip addr")
	err = red.Netlink(func(h *netlink.Handle) error {
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			a := l.Attrs()
			fmt.Printf("%d: %s: <%s> mtu %d state %s\n", a.Index, a.Name, a.Flags, a.MTU, a.OperState)
			addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
			if err != nil {
				return err
			}
			for _, ad := range addrs {
				fam := "inet"
				if ad.IP.To4() == nil {
					fam = "inet6"
				}
				fmt.Printf("    %s %s\n", fam, ad.IPNet)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	// Examples 4-5: ping both ways, then each namespace's loopback.
	fmt.Println()
	pings := []struct {
		from *nettest.Node
		to   string
	}{
		{red, "10.1.1.2"}, {blue, "10.1.1.1"}, {red, "127.0.0.1"}, {blue, "127.0.0.1"},
	}
	for _, p := range pings {
		rtt, err := icmpping.Ping(p.from, netip.MustParseAddr(p.to), 2*time.Second)
		if err != nil {
			return err
		}
		fmt.Printf("$ ip netns exec %s ping -c1 %s: reply in %v\n", p.from, p.to, rtt.Round(time.Microsecond))
	}
	if err := n.Close(); err != nil {
		return err
	}
	fmt.Println("\ntorn down: no namespace, link or route left behind")
	return nil
}
