package nettest

import (
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
