package nettest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// offline returns the live objects of a topology without building it: the
// look-ups need no namespace.
func offline(t *testing.T, b *Builder) *Network {
	t.Helper()
	_, p, err := b.resolve()
	require.NoError(t, err)
	return newNetwork(p, "offline")
}

// TestInterfaceAddr: Interface.Addr reports a missing address with an
// error, as Node.Addr and Network.Addr do (it returned a bool).
func TestInterfaceAddr(t *testing.T) {
	n := offline(t, NewBuilder("addr").Host("h1", "h2").Link("h1", "h2=10.0.0.2/24"))
	h1, h2 := n.byName["h1"].ifaces[0], n.byName["h2"].ifaces[0]
	a, err := h2.Addr(IPv4)
	require.NoError(t, err)
	require.Equal(t, "10.0.0.2", a.String())
	_, err = h2.Addr(IPv6)
	require.EqualError(t, err, "nettest: h2:eth0 has no IPv6 address")
	_, err = h1.Addr(IPv4)
	require.EqualError(t, err, "nettest: h1:eth0 has no IPv4 address")
	_, err = n.byName["h1"].Addr(IPv4)
	require.EqualError(t, err, "nettest: node h1 has no IPv4 address")
}

// TestLookup: one resolver for every reference a user writes.
func TestLookup(t *testing.T) {
	n := offline(t, NewBuilder("look").Host("h1", "h2").Router("r1").
		Link("h1", "r1").Link("r1", "h2", LinkName("up")).LAN("lan", []string{"r1", "h2"}))
	for ref, want := range map[string]string{
		"h1":              "node h1",
		"lan":             "node lan",
		"r1:eth1":         "node r1 interface r1:eth1",
		"h1-r1":           "link h1-r1",
		"up":              "link up",
		"lan:h2":          "node lan interface lan:h2",
		"198.18.0.1":      "addr 198.18.0.1",
		"::ffff:10.0.0.1": "addr 10.0.0.1",
		"fd00::1":         "addr fd00::1",
		"198.18.4.1/24":   "prefix 198.18.4.0/24",
	} {
		tg, err := n.Lookup(ref)
		require.NoError(t, err, ref)
		require.Equal(t, ref, tg.Ref)
		var got []string
		if tg.Node != nil {
			got = append(got, "node "+tg.Node.Name())
		}
		if tg.Interface != nil {
			got = append(got, "interface "+tg.Interface.String())
		}
		if tg.Link != nil {
			got = append(got, "link "+tg.Link.Name())
		}
		if tg.Addr.IsValid() {
			got = append(got, "addr "+tg.Addr.String())
		}
		if tg.Prefix.IsValid() {
			got = append(got, "prefix "+tg.Prefix.String())
		}
		require.Equal(t, want, strings.Join(got, " "), ref)
	}
	for ref, want := range map[string]string{
		"h9":      `nettest: offline has no node "h9" (it has h1, h2, r1, lan)`,
		"h9:eth0": `nettest: offline has no node "h9" (it has h1, h2, r1, lan)`,
		"h1:eth7": `nettest: node h1 has no interface "eth7" (it has eth0)`,
		"":        `nettest: offline has no node "" (it has h1, h2, r1, lan)`,
	} {
		_, err := n.Lookup(ref)
		require.EqualError(t, err, want, ref)
	}
	// Addrs: a node's, an interface's, a literal's; a link has none.
	tg, _ := n.Lookup("h1")
	require.Len(t, tg.Addrs(), 2)
	tg, _ = n.Lookup("198.18.0.1")
	require.Equal(t, "[198.18.0.1]", fmt.Sprint(tg.Addrs()))
	tg, _ = n.Lookup("up")
	require.Empty(t, tg.Addrs())

	// Network.Addr and Network.Link read references through Lookup.
	_, err := n.Addr("up", IPv4)
	require.EqualError(t, err, `nettest: "up" is a link: want node or node:iface`)
	l, err := n.Link("r1:eth1")
	require.NoError(t, err)
	require.Equal(t, "up", l.Name())
}
