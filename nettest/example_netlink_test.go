package nettest_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/vishvananda/netlink"

	"github.com/nettestlab/nettest/nettest"
)

// The kernel's own view of a node, through the netlink handle it lends;
// once the network is closed, it lends nothing.
func ExampleNode_Netlink() {
	n, err := nettest.NewBuilder("nl").Host("a", "b").Link("a", "b").Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	a, _ := n.Node("a")
	err = a.Netlink(func(h *netlink.Handle) error {
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			fmt.Println(l.Attrs().Name, l.Attrs().OperState)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	n.Close()
	err = a.Netlink(func(*netlink.Handle) error { return nil })
	fmt.Println(errors.Is(err, nettest.ErrClosed))
	_, err = a.NetNSPath()
	fmt.Println(err)
	// Output:
	// lo unknown
	// eth0 up
	// true
	// nettest: node a: namespace descriptor: the network is closed
}
