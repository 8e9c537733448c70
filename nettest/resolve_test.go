package nettest

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParseRoute(t *testing.T) {
	for _, s := range []string{
		"default via 10.0.0.1",
		"10.2.0.0/16 via 10.0.0.1 dev eth0 metric 100",
		"192.0.2.0/24 dev eth1",
		"2001:db8::/32 nexthop via fd00::1 weight 2 nexthop via fd00:1::1",
		"10.9.9.9/32 via 10.0.0.1",
		"default via r1",
		"10.0.0.0/8 nexthop via r1 nexthop via r2:eth0 weight 3",
	} {
		r, err := ParseRoute(s)
		require.NoError(t, err, s)
		require.Equal(t, s, r.String(), "round trip")
	}
	r, err := ParseRoute("10.9.9.9 via 10.0.0.1")
	require.NoError(t, err)
	require.Equal(t, "10.9.9.9/32", r.Dst.String(), "a bare address is a host route")
	for s, want := range map[string]string{
		"":                                     "empty",
		"10.0.0.0/33 via 10.0.0.1":             "destination 10.0.0.0/33 is not a prefix",
		"nowhere via 10.0.0.1":                 "neither default, a prefix nor an address",
		"default via":                          "via needs a value",
		"default via 10.0.0":                   "gateway 10.0.0 is not an address",
		"default via 10.0.0.1 metric x":        "metric x is not a number",
		"default via 10.0.0.1 weight 2":        "weight belongs to a nexthop",
		"default nexthop via 1.1.1.1 weight 0": "weight 0 is not a number from 1 to 256",
		"default proto static":                 `unknown word "proto"`,
	} {
		_, err := ParseRoute(s)
		require.ErrorContains(t, err, want, "%q", s)
	}
}

func TestParsePrefixAndEndpoint(t *testing.T) {
	p, err := ParsePrefix("10.1.1.1/24")
	require.NoError(t, err)
	require.Equal(t, "10.1.1.1/24", p.String(), "the host part is kept")
	for s, want := range map[string]string{
		"10.1.1.1":      "missing prefix length",
		"10.1.1.300/24": "address 10.1.1.300/24: invalid",
		"10.1.1.1/40":   `prefix length "40" is not a number from 0 to 32`,
		"fd00::1/129":   `prefix length "129" is not a number from 0 to 128`,
	} {
		_, err := ParsePrefix(s)
		require.ErrorContains(t, err, want, s)
	}
	e, err := ParseEndpoint("r1:eth0")
	require.NoError(t, err)
	require.Equal(t, Endpoint{Node: "r1", Iface: "eth0"}, e)
	_, err = ParseEndpoint(":eth0")
	require.ErrorContains(t, err, "want node or node:iface")
	_, err = ParseEndpoint("r1:")
	require.ErrorContains(t, err, "empty interface name")
}

func TestPool(t *testing.T) {
	taken := []netip.Prefix{netip.MustParsePrefix("198.18.0.4/30"), netip.MustParsePrefix("198.18.0.16/28")}
	p := newPool(netip.MustParsePrefix("198.18.0.0/24"), taken)
	var got []string
	for range 4 {
		s, ok := p.take(30)
		require.True(t, ok)
		got = append(got, s.String())
	}
	require.Equal(t, []string{"198.18.0.0/30", "198.18.0.8/30", "198.18.0.12/30", "198.18.0.32/30"}, got, "user subnets are skipped")
	small := newPool(netip.MustParsePrefix("198.18.0.0/29"), nil)
	_, ok1 := small.take(30)
	_, ok2 := small.take(30)
	_, ok3 := small.take(30)
	require.True(t, ok1 && ok2)
	require.False(t, ok3, "an exhausted pool says so")
	require.Equal(t, "fdf6:fd81:8f7e:1::", addPow2(netip.MustParseAddr("fdf6:fd81:8f7e::"), 64).String())
	require.False(t, addPow2(netip.MustParseAddr("255.255.255.255"), 0).IsValid(), "overflow")
	require.Equal(t, "198.19.0.5", nthHost(netip.MustParsePrefix("198.19.0.0/24"), 5).String())
}

func TestAutoAddressing(t *testing.T) {
	b := NewBuilder("auto").Host("h1", "h2", "h3").Router("r1").
		Link("h1", "r1").Link("r1", "h2=10.0.0.2/24", LinkName("user")).LAN("lan", []string{"r1", "h3"})
	topo, err := b.Topology()
	// The user addressed one end of link "user" only: the link is the
	// user's, so r1's end stays without an address and auto leaves it alone.
	require.NoError(t, err)
	p, err := topo.resolve()
	require.NoError(t, err)
	addrs := func(node, iface string) string {
		var s []string
		for _, a := range p.byName[node].byIface[iface].addrs {
			s = append(s, a.String())
		}
		return strings.Join(s, " ")
	}
	require.Equal(t, "198.18.0.1/30 fdf6:fd81:8f7e::1/64", addrs("h1", "eth0"))
	require.Equal(t, "198.18.0.2/30 fdf6:fd81:8f7e::2/64", addrs("r1", "eth0"))
	require.Equal(t, "", addrs("r1", "eth1"))
	require.Equal(t, "10.0.0.2/24", addrs("h2", "eth0"))
	require.Equal(t, "198.19.0.1/24 fdf6:fd81:8f7e:8000::1/64", addrs("r1", "eth2"))
	require.Equal(t, "198.19.0.2/24 fdf6:fd81:8f7e:8000::2/64", addrs("h3", "eth0"))
	// Switch ports are named after their members.
	require.NotNil(t, p.byName["lan"].byIface["r1"])
	require.NotNil(t, p.byName["lan"].byIface["h3"])

	// A LAN bigger than a /24 gets a bigger subnet.
	big := NewBuilder("big")
	var members []string
	for i := range 300 {
		name := "h" + itoa3(i)
		big.Host(name)
		members = append(members, name)
	}
	big.LAN("sw", members)
	topo, err = big.Topology()
	require.NoError(t, err)
	p, err = topo.resolve()
	require.NoError(t, err)
	require.Equal(t, "198.19.0.1/23", p.byName["h000"].ifaces[0].addrs[0].String())
	require.Equal(t, "198.19.1.44/23", p.byName["h299"].ifaces[0].addrs[0].String())
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestAutoRoutesDeterministicShortest(t *testing.T) {
	// A ring r1-r2-r3-r4-r1 with a host on r1 and one on r3: two equal
	// paths; the tie goes to the neighbour first in topology order (r2).
	b := NewBuilder("ring").Auto(Auto{IPv4: true, Routes: true}).
		Router("r1", "r2", "r3", "r4").Host("a", "c").
		Chain("r1", "r2", "r3", "r4", "r1").Link("a", "r1").Link("c", "r3")
	topo, err := b.Topology()
	require.NoError(t, err)
	for range 3 {
		p, err := topo.resolve()
		require.NoError(t, err)
		var toC string
		for _, rp := range p.byName["r1"].routes {
			if rp.dst.Contains(p.byName["c"].ifaces[0].addrs[0].Addr()) {
				toC = rp.r.String()
			}
		}
		require.Equal(t, "198.18.0.20/30 via 198.18.0.2 dev eth0 metric 1024", toC)
		// A host has a route to every subnet it is not on, through its router.
		require.Len(t, p.byName["a"].routes, 5)
	}
}

func TestDerivedMAC(t *testing.T) {
	a, b := derivedMAC("r1/eth0"), derivedMAC("r1/eth1")
	require.Equal(t, a, derivedMAC("r1/eth0"))
	require.NotEqual(t, a, b)
	require.Equal(t, byte(0x02), a[0]&0x03)
}

func TestSysctlPath(t *testing.T) {
	p, err := sysctlPath("net.ipv4.conf.eth0/100.rp_filter")
	require.NoError(t, err)
	require.Equal(t, "/proc/sys/net/ipv4/conf/eth0.100/rp_filter", p)
	_, err = sysctlPath("net.ipv4..x")
	require.ErrorContains(t, err, "malformed")
	_, err = sysctlPath("net.ipv4.conf.*.x")
	require.ErrorContains(t, err, "not allowed")
}

func TestPrivilegeError(t *testing.T) {
	err := privilegeError("creating a network namespace", unix.EPERM)
	require.ErrorIs(t, err, ErrPrivilege)
	require.ErrorContains(t, err, "creating a network namespace: not enough privilege (operation not permitted); run as root (sudo), with `go test -exec sudo`")
	err = privilegeError("creating a network namespace", unix.ENOMEM)
	require.NotErrorIs(t, err, ErrPrivilege)
}

// TestNodeSysctls: what a node's namespace gets: forwarding on in routers
// only, no reverse-path filter, and IPv6 settings only with IPv6.
func TestNodeSysctls(t *testing.T) {
	keys := func(set [][2]string) map[string]string {
		m := map[string]string{}
		for _, kv := range set {
			m[kv[0]] = kv[1]
		}
		return m
	}
	host := keys(nodeSysctls(false, false))
	require.Equal(t, "0", host[sysIPForward], "hosts never forward, whatever the host's setting")
	require.Equal(t, "0", host[sysRPFilterAll])
	require.Equal(t, "0", host[sysRPFilterDef])
	require.NotContains(t, host, sysIPv6Forward, "no IPv6 settings without IPv6")
	router := keys(nodeSysctls(true, true))
	require.Equal(t, "1", router[sysIPForward])
	require.Equal(t, "1", router[sysIPv6Forward])
	require.Equal(t, "0", router["/proc/sys/net/ipv6/conf/default/accept_dad"])
	require.Equal(t, "1", router["/proc/sys/net/ipv6/conf/all/keep_addr_on_down"])
	require.Equal(t, "0", keys(nodeSysctls(false, true))[sysIPv6Forward])
}

func TestTopologyInterfaces(t *testing.T) {
	topo, err := NewBuilder("ifs").Host("h1", "h2").Router("r1").Link("h1", "r1").Link("r1:up", "h2").LAN("lan", []string{"r1", "h2"}).Topology()
	require.NoError(t, err)
	ifs, err := topo.Interfaces()
	require.NoError(t, err)
	require.Equal(t, map[string][]string{
		"h1": {"eth0"}, "h2": {"eth0", "eth1"}, "r1": {"eth0", "up", "eth1"}, "lan": {"br0", "r1", "h2"},
	}, ifs)
	_, err = Topology{}.Interfaces()
	require.ErrorContains(t, err, "no nodes")
}

func TestImpairmentValidate(t *testing.T) {
	require.NoError(t, Impairment{Delay: time.Millisecond, Loss: 0.1}.Validate())
	err := Impairment{Loss: 2}.Validate()
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.EqualError(t, err, "impairment loss 200%: loss 2 is not a probability from 0 to 1 (write 10% as 0.1)")
}
