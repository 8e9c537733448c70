package nettest_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/nettest"
)

func TestAssign(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("assign").Host("h1", "h2").Router("r1").
		Chain("h1", "r1", "h2").LAN("sw", []string{"r1", "h2"})))
	var h struct {
		Client  *nettest.Node      `nettest:"h1"`
		Router  *nettest.Node      `nettest:"r1"`
		Switch  *nettest.Node      `nettest:"sw"`
		Uplink  *nettest.Link      `nettest:"h1-r1"`
		ByEnd   *nettest.Link      `nettest:"h2:eth0"`
		Eth0    *nettest.Interface `nettest:"r1:eth0"`
		Server  netip.Addr         `nettest:"h2,ipv6"`
		Server4 netip.Addr         `nettest:"h2"`
		Net     netip.Prefix       `nettest:"r1:eth1,ipv4"`
		Ignored string
	}
	require.NoError(t, n.Assign(&h))
	require.Equal(t, "h1", h.Client.Name())
	require.Equal(t, "r1", h.Router.Name())
	require.True(t, h.Switch.IsSwitch())
	require.Equal(t, "h1-r1", h.Uplink.Name())
	require.Equal(t, "r1-h2", h.ByEnd.Name())
	require.Equal(t, "r1:eth0", h.Eth0.String())
	require.Equal(t, addr(t, n, "h2", nettest.IPv6), h.Server)
	require.Equal(t, addr(t, n, "h2", nettest.IPv4), h.Server4)
	require.Equal(t, "198.18.0.5/30", h.Net.String())
	ping(t, h.Client, h.Server)

	var bad struct {
		A *nettest.Node      `nettest:"nobody"`
		B *nettest.Link      `nettest:"h1-h2"`
		C *nettest.Interface `nettest:"r1"`
		D netip.Addr         `nettest:"h1,ipv7"`
		E string             `nettest:"h1"`
		F *nettest.Node      `nettest:"h1,ipv6"`
		G *nettest.Node      `nettest:"h2"`
	}
	err := n.Assign(&bad)
	require.Error(t, err)
	for _, want := range []string{
		"field A `nettest:\"nobody\"`: nettest: assign has no node \"nobody\" (it has h1, h2, r1, sw)",
		"field B `nettest:\"h1-h2\"`: nettest: assign has no link \"h1-h2\"",
		"field C `nettest:\"r1\"`: \"r1\": an interface is named node:iface",
		"field D `nettest:\"h1,ipv7\"`: option \"ipv7\": want ipv4 or ipv6",
		"field E `nettest:\"h1\"`: type string is not one Assign fills",
		"field F `nettest:\"h1,ipv6\"`: option \"ipv6\" applies only to netip.Addr and netip.Prefix fields",
	} {
		require.ErrorContains(t, err, want)
	}
	require.Nil(t, bad.G, "nothing is assigned when a tag fails")
	require.ErrorContains(t, n.Assign(h), "Assign needs a pointer to a struct")
}

func TestAddrOn(t *testing.T) {
	n := build(t, mustTopology(t, nettest.NewBuilder("addron").Host("h1", "h2").Router("r1").
		Chain("h1", "r1").LAN("lan", []string{"r1", "h2"})))
	a, err := n.AddrOn("r1", "h1-r1", nettest.IPv4)
	require.NoError(t, err)
	require.Equal(t, "198.18.0.2", a.String())
	a, err = n.AddrOn("r1", "lan", nettest.IPv6)
	require.NoError(t, err)
	require.Equal(t, "fdf6:fd81:8f7e:8000::1", a.String())
	_, err = n.AddrOn("h2", "h1-r1", nettest.IPv4)
	require.EqualError(t, err, `nettest: node h2 is not on "h1-r1" (it is on lan)`)
	_, err = n.AddrOn("nobody", "lan", nettest.IPv4)
	require.ErrorContains(t, err, `has no node "nobody"`)
}
