package nettest

import (
	"net/netip"
	"time"

	"testing"

	"github.com/stretchr/testify/require"
)

// TestBuilderSegmentOptions: LinkName and LinkMTU adjust a link, LinkMTU a
// LAN too (it was Builder.LANWith's MTU argument).
func TestBuilderSegmentOptions(t *testing.T) {
	topo, err := NewBuilder("opts").Host("h1", "h2", "h3").
		Link("h1", "h2", LinkName("up"), LinkMTU(1400)).
		LAN("lan", []string{"h2", "h3"}, LinkMTU(9000)).
		Topology()
	require.NoError(t, err)
	require.Equal(t, "up", topo.Links[0].Name)
	require.Equal(t, 1400, topo.Links[0].MTU)
	require.Equal(t, 9000, topo.LANs[0].MTU)
	require.Len(t, topo.LANs[0].Members, 2)
}

// TestPingOptions: Ping's options over its defaults; a value out of range
// means the default, as the zero fields of the old PingOptions did.
func TestPingOptions(t *testing.T) {
	c := newPingConfig(nil)
	require.Equal(t, pingConfig{count: 1, interval: 100 * time.Millisecond, timeout: time.Second}, c)
	src := netip.MustParseAddr("10.0.0.1")
	c = newPingConfig([]PingOption{PingCount(3), PingInterval(time.Millisecond), PingTimeout(time.Minute), PingSrc(src)})
	require.Equal(t, pingConfig{count: 3, interval: time.Millisecond, timeout: time.Minute, src: src}, c)
	c = newPingConfig([]PingOption{PingCount(-1), PingInterval(0), PingTimeout(-time.Second)})
	require.Equal(t, pingConfig{count: 1, interval: 100 * time.Millisecond, timeout: time.Second}, c)
}
