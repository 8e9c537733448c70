package nettest_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/nettestlab/nettest/nettest"
)

// TestRouteTables: routes given for tables below and above 255 land in
// those tables (a table above 255 travels in RTA_TABLE alone), not in main.
func TestRouteTables(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("tables").Auto(nettest.Auto{}).Host("a", "b").
		Link("a=10.0.1.1/24", "b=10.0.1.2/24").
		Route("a", "10.9.0.0/24 via 10.0.1.2 table 100").
		Route("a", "10.8.0.0/24 via 10.0.1.2 table 1000")))
	a := node(t, n, "a")
	for table, dst := range map[int]string{100: "10.9.0.0/24", 1000: "10.8.0.0/24"} {
		var got []string
		require.NoError(t, a.Netlink(func(h *netlink.Handle) error {
			rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
			for _, r := range rs {
				got = append(got, r.Dst.String())
			}
			return err
		}))
		require.Equal(t, []string{dst}, got, "table %d", table)
	}
	var main []string
	require.NoError(t, a.Netlink(func(h *netlink.Handle) error {
		rs, err := h.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range rs {
			main = append(main, r.Dst.String())
		}
		return err
	}))
	require.Equal(t, []string{"10.0.1.0/24"}, main)
}
