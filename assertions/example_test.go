package assertions_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/nettest"
)

// printT prints what a check reports, so that the examples show it. In a
// test, pass the test's t.
type printT struct{}

func (printT) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// h1 - r1 - h2, and h3 on r1: IPv4 and IPv6, routed.
func exampleNetwork() *nettest.Network {
	n, err := nettest.NewBuilder("example").Host("h1", "h2", "h3").Router("r1").
		Chain("h1", "r1", "h2").Link("r1", "h3").
		Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	return n
}

// Ping over every family the target has; the failure says what came back
// and how the source's kernel routes the destination.
func ExamplePing() {
	n := exampleNetwork()
	defer n.Close()
	t := printT{} // in a test: t *testing.T

	fmt.Println(assertions.Ping(t, n, "h1", "h2")) // IPv4 and IPv6
	fmt.Println(assertions.Ping(t, n, "h1", "h3:eth0", assertions.Count(3), assertions.IPv6()))

	link, _ := n.Link("h1-r1")
	link.SetDown()
	fmt.Println(assertions.NoPing(t, n, "h1", "h2"))
	assertions.Ping(t, n, "h1", "h2", assertions.IPv4())
	// Output:
	// true
	// true
	// true
	// ping h1 -> h2 (198.18.0.6): 0/1 replies: network is unreachable (the kernel refused to send); h1's kernel has no route to it
}

// Dial TCP and UDP from one node to another, where an echo server listens.
func ExampleCanDial() {
	n := exampleNetwork()
	defer n.Close()
	t := printT{}

	h2, _ := n.Node("h2")
	for _, network := range []string{"tcp", "udp"} {
		_, stop, err := h2.Echo(network, ":8080")
		if err != nil {
			log.Fatal(err)
		}
		defer stop()
	}
	fmt.Println(assertions.CanDial(t, n, "h1", "tcp", "h2", 8080))
	fmt.Println(assertions.CanDial(t, n, "h1", "udp", "h2", 8080))
	fmt.Println(assertions.NoDial(t, n, "h1", "tcp", "h2", 9090, assertions.Refused()))
	assertions.CanDial(t, n, "h1", "tcp4", "h2", 9090)
	// Output:
	// true
	// true
	// true
	// dial tcp4 h1 -> h2 (198.18.0.6:9090): refused, want connected
}

// Routes as the kernel holds them: every next hop of a multipath route.
func ExampleRouteVia() {
	n, err := nettest.NewBuilder("ecmp").Auto(nettest.Auto{}).
		Host("h").Router("a", "b").
		Link("h:up1=10.0.1.1/24", "a=10.0.1.2/24").
		Link("h:up2=10.0.2.1/24", "b=10.0.2.2/24").
		Route("h", "10.0.9.0/24 nexthop via 10.0.1.2 nexthop via 10.0.2.2").
		Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	t := printT{}

	fmt.Println(assertions.RouteVia(t, n, "h", "10.0.9.0/24", "a"))        // the gateway by node name
	fmt.Println(assertions.RouteVia(t, n, "h", "10.0.9.0/24", "10.0.2.2")) // or by address
	fmt.Println(assertions.RouteDev(t, n, "h", "10.0.9.0/24", "up2"))
	fmt.Println(assertions.RouteSrc(t, n, "h", "b", "h:up2"))
	fmt.Println(assertions.NoRoute(t, n, "h", "192.0.2.1"))
	assertions.RouteVia(t, n, "h", "a", "b")
	// Output:
	// true
	// true
	// true
	// true
	// true
	// route to a (10.0.1.2) on h: via no gateway (dev up1), want via b (10.0.2.2) (h's route: 10.0.1.0/24 dev up1 src 10.0.1.1)
}

// Every pair of a set of nodes, pinged at once; a matrix shows which
// failed.
func ExampleReachable() {
	n := exampleNetwork()
	defer n.Close()
	t := printT{}

	fmt.Println(assertions.Reachable(t, n, nil)) // every host and router

	link, _ := n.Link("r1-h3")
	link.SetDown()
	assertions.Reachable(t, n, []string{"h1", "h2", "h3"}, assertions.IPv4())
	// Output:
	// true
	// reachability of h1, h2, h3: 4/6 pings failed:
	//   from\to  h1  h2  h3
	//   h1       -   ok  X
	//   h2       ok  -   X
	//   h3       X   X   -
	//   (X: no reply)
	// ping h1 -> h3 (198.18.0.10): 0/1 replies: destination unreachable (network unreachable) from 198.18.0.2; h1's kernel routes it: 198.18.0.10 via 198.18.0.2 dev eth0 src 198.18.0.1
	// ping h2 -> h3 (198.18.0.10): 0/1 replies: destination unreachable (network unreachable) from 198.18.0.5; h2's kernel routes it: 198.18.0.10 via 198.18.0.5 dev eth0 src 198.18.0.6
	// ping h3 -> h1 (198.18.0.1): 0/1 replies: network is unreachable (the kernel refused to send); h3's kernel has no route to it
	// ping h3 -> h2 (198.18.0.6): 0/1 replies: network is unreachable (the kernel refused to send); h3's kernel has no route to it
}

// An eventual check: retried until it passes or the time is up, then it
// says what it last saw.
func ExampleWithin() {
	n := exampleNetwork()
	defer n.Close()
	t := printT{}

	link, _ := n.Link("r1-h2")
	link.SetDown()
	go func() {
		time.Sleep(200 * time.Millisecond) // a routing daemon converging, say
		link.SetUp(context.Background())
	}()
	fmt.Println(assertions.Ping(t, n, "h1", "h2", assertions.Within(5*time.Second), assertions.Timeout(300*time.Millisecond)))

	assertions.RouteDev(t, n, "r1", "h2", "eth2", assertions.IPv4(), assertions.Within(500*time.Millisecond))
	// Output:
	// true
	// route to h2 (198.18.0.6) on r1: still dev eth1 after 500ms, want dev eth2 (r1's route: 198.18.0.4/30 dev eth1 src 198.18.0.5)
}
