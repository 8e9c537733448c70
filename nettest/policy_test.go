package nettest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestParsePolicyRule reads ip-rule syntax and writes it back.
func TestParsePolicyRule(t *testing.T) {
	for in, want := range map[string]string{
		"from 198.18.0.1 table 100":                     "from 198.18.0.1/32 table 100",
		"from 10.0.0.0/8 to fd00::/8 lookup 7 pref 500": "priority 500 from 10.0.0.0/8 to fd00::/8 table 7",
		"from h1 table 100":                             "from h1 table 100",
		"to r2:lo iif eth0 oif eth1 table main":         "to r2:lo iif eth0 oif eth1 table main",
		"from all fwmark 0x10/0xff table 300 order 10":  "priority 10 fwmark 0x10/0xff table 300",
		"iif lo table default":                          "iif lo table default",
	} {
		r, err := nettest.ParsePolicyRule(in)
		require.NoError(t, err, in)
		require.Equal(t, want, r.String(), in)
	}
	for in, want := range map[string]string{
		"":                        "empty",
		"from 10.0.0.1":           "no table",
		"from 10.0.0.300 table 1": "not an address",
		"table 0":                 "table 0 is neither",
		"table 1 table 2":         "table given twice",
		"via 10.0.0.1 table 1":    `unknown word "via"`,
		"iif a/b table 1":         "iif a/b",
		"from":                    "from needs a value",
	} {
		_, err := nettest.ParsePolicyRule(in)
		require.ErrorContains(t, err, want, in)
	}
	r, err := nettest.ParseRoute("default via 10.0.0.1 table 100")
	require.NoError(t, err)
	require.Equal(t, 100, r.Table)
	require.Equal(t, "default via 10.0.0.1 table 100", r.String())
}

// TestPolicyErrors: a rule or a table route at fault names the node and
// the rule.
func TestPolicyErrors(t *testing.T) {
	_, err := nettest.NewBuilder("pol").Host("h1").Router("r1").Link("h1", "r1").
		Rule("r1", "from h9 table 100", "iif eth7 table 100", "from 10.0.0.1/8 table 100", "from 10.0.0.1 to fd00::1 table 1", "bogus 1 table 1").
		Route("r1", "0.0.0.0/0 via h1 table 255").
		Rule("nope", "from h1 table 1").
		Topology()
	for _, want := range []string{
		"node r1: rule from h9 table 100: from h9: no node \"h9\"",
		"node r1: rule iif eth7 table 100: iif eth7: node r1 has no such interface (it has lo, eth0)",
		"node r1: rule from 10.0.0.1/8 table 100: from 10.0.0.1/8 has host bits set",
		"node r1: rule from 10.0.0.1/32 to fd00::1/128 table 1: selects no packet",
		"node r1: rule \"bogus 1 table 1\": unknown word \"bogus\"",
		"node r1: route 0.0.0.0/0 via h1 table 255: table 255 is the kernel's local table",
		"node nope: rules given for an unknown node",
	} {
		require.ErrorContains(t, err, want)
	}
}

// policyNet: h1 and h2 behind r1, which reaches srv's loopback through ra
// (its main table, automatic routes) or rb (table 100, which a rule gives
// h2's traffic). Routes stay as built, so a cut link on ra's side blackholes
// what takes the main table.
func policyNet(t *testing.T) *nettest.Network {
	testenv.RequirePrivilege(t)
	n, err := nettest.NewBuilder("pol").Host("h1", "h2", "srv").Router("r1", "ra", "rb").
		Auto(nettest.Auto{IPv4: true, IPv6: true, Routes: true, FrozenRoutes: true}).
		Link("h1", "r1").Link("h2", "r1").Link("r1", "ra").Link("r1", "rb").Link("srv", "rb").Link("srv", "ra").
		Loopback("srv", "10.255.0.9", "fd00:255::9").
		Route("r1", "10.255.0.9 via rb table 100", "fd00:255::9 via rb table 100").
		Rule("r1", "from h2 table 100", "iif lo fwmark 0x10/0xff table 200 priority 50", "to srv:lo oif eth3 table 100").
		Build(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

// TestPolicyRouting: a rule sends one source's traffic through a table of
// its own, IPv4 and IPv6: with ra's way to srv cut, h2 (table 100, via
// rb) still reaches srv and h1 (main table, via ra) does not. The report
// shows the table and the rule.
func TestPolicyRouting(t *testing.T) {
	n := policyNet(t)
	h1, h2, r1 := node(t, n, "h1"), node(t, n, "h2"), node(t, n, "r1")
	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		ping(t, h1, addr(t, n, "srv:lo", f))
		ping(t, h2, addr(t, n, "srv:lo", f))
	}
	cut, err := n.Link("srv-ra")
	require.NoError(t, err)
	require.NoError(t, cut.SetDown())
	for _, f := range []nettest.Family{nettest.IPv4, nettest.IPv6} {
		ping(t, h2, addr(t, n, "srv:lo", f))
		noPing(t, h1, addr(t, n, "srv:lo", f))
	}

	var b strings.Builder
	require.NoError(t, r1.Report(&b))
	rb4, rb6 := addrOn(t, n, "rb", "r1-rb", nettest.IPv4), addrOn(t, n, "rb", "r1-rb", nettest.IPv6)
	h24, h26 := addr(t, n, "h2", nettest.IPv4), addr(t, n, "h2", nettest.IPv6)
	for _, want := range []string{
		"routes (IPv4, table 100):\n     10.255.0.9/32 via " + rb4.String() + " dev eth3\n",
		"routes (IPv6, table 100):\n     fd00:255::9/128 via " + rb6.String() + " dev eth3 metric 1024\n",
		"   rules (IPv4):\n     50: from all fwmark 0x10/0xff iif lo lookup 200\n     1000: from " + h24.String() + " lookup 100\n" +
			"     1002: from all to 10.255.0.9 oif eth3 lookup 100\n",
		"   rules (IPv6):\n     50: from all fwmark 0x10/0xff iif lo lookup 200\n     1000: from " + h26.String() + " lookup 100\n" +
			"     1002: from all to fd00:255::9 oif eth3 lookup 100\n",
	} {
		require.Contains(t, b.String(), want)
	}
	b.Reset()
	require.NoError(t, h1.Report(&b))
	require.NotContains(t, b.String(), "rules", "a node without rules of its own lists none")
	require.NotContains(t, b.String(), "table", "a node without tables of its own lists none")
}
