package nettest_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestKernelInterfaces: the kernel's view of a node's interfaces, with
// their state and addresses, follows a link going down.
func TestKernelInterfaces(t *testing.T) {
	testenv.RequirePrivilege(t)
	n := build(t, seedTopology())
	red, _ := n.Node("red")
	find := func() nettest.KernelInterface {
		t.Helper()
		ifaces, err := red.KernelInterfaces()
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(ifaces, func(k nettest.KernelInterface) bool { return k.Name == "veth-red" })
		if i < 0 || ifaces[0].Name != "lo" {
			t.Fatalf("interfaces %+v: want lo first and veth-red", ifaces)
		}
		return ifaces[i]
	}
	v := find()
	if !v.Up || v.OperState != "UP" || v.MTU != 1500 || len(v.HardwareAddr) != 6 || !slices.Contains(v.Addrs, netip.MustParsePrefix("10.1.1.1/24")) {
		t.Errorf("veth-red: %+v", v)
	}
	l, err := n.Link("red:veth-red")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetDown(); err != nil {
		t.Fatal(err)
	}
	if v := find(); v.OperState == "UP" {
		t.Errorf("veth-red after SetDown: %+v", v)
	}
}
