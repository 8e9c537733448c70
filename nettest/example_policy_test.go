package nettest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// A ring of four routers, each with an automatic loopback (its router ID),
// which every node reaches on automatic routes: "r3:lo" names it.
func ExampleBuilder_Loopback() {
	n, err := nettest.NewBuilder("ring").
		Host("h1").
		Router("r1", "r2", "r3", "r4").
		Chain("r1", "r2", "r3", "r4", "r1").
		Link("h1", "r1").
		Loopbacks().                                     // every router: 198.19.240.N, fdf6:fd81:8f7e:ffff::N
		Loopback("h1", "10.255.0.100", "fd00:255::100"). // one node, addresses given
		Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	r3, _ := n.Node("r3")
	id, _ := r3.RouterID()
	fmt.Println("r3's router ID:", id, r3.Loopback())
	h1, _ := n.Node("h1")
	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		dst, _ := n.Addr("r3:lo", f)
		route, _ := h1.RouteGet(dst)
		fmt.Println(route)
	}
	// Output:
	// r3's router ID: 198.19.240.3 [198.19.240.3 fdf6:fd81:8f7e:ffff::3]
	// 198.19.240.3 via 198.18.0.18 dev eth0 src 198.18.0.17
	// fdf6:fd81:8f7e:ffff::3 via fdf6:fd81:8f7e:4::2 dev eth0 src fdf6:fd81:8f7e:4::1
}

// Policy routing: r1 reaches srv through ra by its main table, but a rule
// sends what h2 sends through table 100, by rb. With ra's way to srv cut
// (and routes left as built), only h2 still gets through.
func ExampleBuilder_Rule() {
	n, err := nettest.NewBuilder("policy").
		Host("h1", "h2", "srv").
		Router("r1", "ra", "rb").
		Auto(nettest.Auto{IPv4: true, IPv6: true, Routes: true, FrozenRoutes: true}).
		Link("h1", "r1").Link("h2", "r1").Link("r1", "ra").Link("r1", "rb").Link("srv", "rb").Link("srv", "ra").
		Loopback("srv", "10.255.0.9").
		Route("r1", "10.255.0.9 via rb table 100"). // rb: the node's address on a link both are on
		Rule("r1", "from h2 table 100").            // h2: its addresses
		Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	cut, _ := n.Link("srv-ra")
	cut.SetDown()
	dst, _ := n.Addr("srv:lo", nettest.IPv4)
	for _, name := range []string{"h1", "h2"} {
		h, _ := n.Node(name)
		_, err := h.Ping(context.Background(), dst, nettest.PingTimeout(300*time.Millisecond))
		fmt.Printf("%s reaches srv: %v\n", name, err == nil)
	}
	// Output:
	// h1 reaches srv: false
	// h2 reaches srv: true
}

// Policy rules in ip-rule(8) syntax; a node's name stands for its
// addresses, known at Build.
func ExampleParsePolicyRule() {
	for _, s := range []string{
		"from 198.18.0.5 table 100",
		"from h2 to r3:lo lookup 100 pref 500",
		"iif eth0 fwmark 0x1/0xff table main",
	} {
		r, err := nettest.ParsePolicyRule(s)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s | table %d, priority %d\n", r, r.Table, r.Priority)
	}
	// Output:
	// from 198.18.0.5/32 table 100 | table 100, priority 0
	// priority 500 from h2 to r3:lo table 100 | table 100, priority 500
	// iif eth0 fwmark 0x1/0xff table main | table 254, priority 0
}
