package icmpping

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/nettestlab/nettest/nettest"
)

var seq atomic.Uint32

// Ping sends one ICMP echo request from inside node to dst and waits up to
// timeout for the matching reply. It returns the round-trip time.
func Ping(node *nettest.Node, dst netip.Addr, timeout time.Duration) (time.Duration, error) {
	network, proto := "udp4", 1
	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() && !dst.Is4In6() {
		network, proto = "udp6", 58
		reqType, replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var c *icmp.PacketConn
	if err := node.Do(func() (err error) {
		c, err = icmp.ListenPacket(network, "")
		return err
	}); err != nil {
		return 0, fmt.Errorf("ping %s from %s: opening ICMP socket: %w", dst, node, err)
	}
	defer c.Close()
	s := int(seq.Add(1) & 0xffff)
	payload := fmt.Appendf(nil, "nettest %d %d", os.Getpid(), s)
	msg := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: 0, Seq: s, Data: payload}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := c.SetDeadline(start.Add(timeout)); err != nil {
		return 0, err
	}
	if _, err := c.WriteTo(b, &net.UDPAddr{IP: dst.AsSlice()}); err != nil {
		return 0, fmt.Errorf("ping %s from %s: %w", dst, node, err)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return 0, fmt.Errorf("ping %s from %s: no reply: %w", dst, node, err)
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != replyType {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.Seq == s && bytes.Equal(e.Data, payload) {
			return time.Since(start), nil
		}
	}
}
