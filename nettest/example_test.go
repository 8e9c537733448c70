package nettest_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// The seed tutorial's two namespaces, red and blue, joined by a veth pair,
// built from a plain Topology value.
func ExampleBuild() {
	topo := nettest.Topology{
		Nodes: []nettest.NodeConfig{{Name: "red"}, {Name: "blue"}},
		Links: []nettest.LinkConfig{{
			A: nettest.Endpoint{Node: "red", Iface: "veth-red", Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.1.1/24")}},
			B: nettest.Endpoint{Node: "blue", Iface: "veth-blue", Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.1.2/24")}},
		}},
	}
	n, err := nettest.Build(context.Background(), topo)
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	red, _ := n.Node("red")
	for _, in := range red.Interfaces() {
		fmt.Println(in, in.Addrs())
	}
	// Output:
	// red:veth-red [10.1.1.1/24]
}

// A chain of routers with a host at each end, addressed and routed
// automatically (IPv4 and IPv6), and a look at the route h1's kernel picks.
func ExampleNewBuilder() {
	n, err := nettest.NewBuilder("chain").
		Host("h1", "h2").
		Router("r1", "r2", "r3").
		Chain("h1", "r1", "r2", "r3", "h2").
		Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	h1, _ := n.Node("h1")
	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		dst, _ := n.Addr("h2", f)
		route, _ := h1.RouteGet(dst)
		fmt.Println(route)
	}
	// Output:
	// 198.18.0.14 via 198.18.0.2 dev eth0 src 198.18.0.1
	// fdf6:fd81:8f7e:3::2 via fdf6:fd81:8f7e::2 dev eth0 src fdf6:fd81:8f7e::1
}

// Code that runs inside a node: a listener made there serves from anywhere.
func ExampleNode_Do() {
	n, err := nettest.NewBuilder("do").Host("client", "server").Link("client", "server").Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	server, _ := n.Node("server")
	client, _ := n.Node("client")
	addr, _ := n.Addr("server", nettest.IPv6)

	var ln net.Listener
	if err := server.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 8080).String())
		return err
	}); err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			fmt.Fprintln(c, "hello from server")
			c.Close()
		}
	}()

	err = client.Do(func() error {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 64)
		k, _ := c.Read(buf)
		fmt.Print(string(buf[:k]))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// hello from server
}

// Failover with static routes: the backup route (metric 20) takes over
// when the primary link goes down.
func ExampleLink_SetDown() {
	n, err := nettest.NewBuilder("failover").Auto(nettest.Auto{}).
		Host("h").Router("r1", "r2").
		Link("h:a=10.0.1.1/24", "r1=10.0.1.2/24").
		Link("h:b=10.0.2.1/24", "r2=10.0.2.2/24").
		Link("r1=10.0.3.1/24", "r2=10.0.3.2/24").
		Route("h", "10.0.3.0/24 via 10.0.1.2 metric 10", "10.0.3.0/24 via 10.0.2.2 metric 20").
		Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	h, _ := n.Node("h")
	dst := netip.MustParseAddr("10.0.3.2")
	before, _ := h.RouteGet(dst)
	link, _ := n.Link("h:a")
	if err := link.SetDown(); err != nil {
		log.Fatal(err)
	}
	after, _ := h.RouteGet(dst)
	_, err = h.Ping(context.Background(), dst, nettest.PingTimeout(time.Second))
	fmt.Println(before)
	fmt.Println(after, "ping error:", err)
	// Output:
	// 10.0.3.2 via 10.0.1.2 dev a src 10.0.1.1
	// 10.0.3.2 via 10.0.2.2 dev b src 10.0.2.1 ping error: <nil>
}

// What the kernel offers, probed in a throwaway namespace.
func ExampleDetectFeatures() {
	fs, err := nettest.DetectFeatures()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("veth:", fs.Supported(nettest.FeatureVeth))
	if err := fs.Require(nettest.FeatureNetem); err != nil {
		fmt.Println("no netem here; fall back to something else")
	}
}
