package icmpping

import (
	"context"
	"net/netip"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// Ping sends one ICMP echo request from inside node to dst and waits up to
// timeout for the matching reply. It returns the round-trip time.
func Ping(node *nettest.Node, dst netip.Addr, timeout time.Duration) (time.Duration, error) {
	res, err := node.Ping(context.Background(), dst, nettest.PingTimeout(timeout))
	if err != nil {
		return 0, err
	}
	return res.RTTs[0], nil
}
