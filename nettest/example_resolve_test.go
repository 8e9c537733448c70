package nettest_test

import (
	"errors"
	"fmt"

	"github.com/nettestlab/nettest/nettest"
)

// Resolve says what Build would make of a topology — interface names,
// link names, automatic addresses — and, beside it, what is wrong with
// the topology, each problem naming the element at fault by its fields.
func ExampleTopology_Resolve() {
	t := nettest.Topology{
		Auto:  nettest.Auto{IPv4: true},
		Nodes: []nettest.NodeConfig{{Name: "a"}, {Name: "b"}},
		Links: []nettest.LinkConfig{
			{A: nettest.Endpoint{Node: "a"}, B: nettest.Endpoint{Node: "b"}},
			{A: nettest.Endpoint{Node: "a"}, B: nettest.Endpoint{Node: "b"}, MTU: 10},
		},
	}
	r, err := t.Resolve()
	for _, l := range r.Links {
		fmt.Println(l.Name, l.A, l.B)
	}
	for _, in := range r.Nodes[0].Interfaces {
		fmt.Println(in, in.Addrs)
	}
	var ce *nettest.ConfigError
	if errors.As(err, &ce) {
		fmt.Printf("%v (link #%d %s, field %s, value %s)\n", ce, ce.LinkIndex, ce.Link, ce.Field, ce.Value)
	}
	// Output:
	// a-b a:eth0 b:eth0
	// a-b-2 a:eth1 b:eth1
	// a:eth0 [198.18.0.1/30]
	// a:eth1 [198.18.0.5/30]
	// link a-b-2: MTU 10 is outside 68..65535 (link #1 a-b-2, field MTU, value 10)
}
