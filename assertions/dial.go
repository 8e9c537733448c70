package assertions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/nettestlab/nettest/nettest"
)

// CanDial checks that the node from connects to port on the target to:
// over TCP ("tcp", "tcp4", "tcp6") the handshake completes; over UDP
// ("udp", "udp4", "udp6") a datagram sent there is answered (by an echo
// server such as [nettest.Node.Echo], say). The check covers each address
// family the target has, or the one the network names, or those chosen
// with [IPv4] and [IPv6]. Targets are those of [Ping]. Options: [Timeout],
// [IPv4], [IPv6], [Within], [Every].
//
//	dial tcp h1 -> h2 (198.18.0.14:8080): refused, want connected
func CanDial(t TestingT, n *nettest.Network, from, network, to string, port int, opts ...DialOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return check(t, "CanDial", n, options(opts, DialOption.dialOption), dialCheck(n, from, network, to, port, true))
}

// NoDial checks that the node from does not connect to port on the
// target to. By default any failure passes: refused (a TCP reset, or an
// ICMP port unreachable for UDP), timed out (no answer within the timeout)
// or unreachable (no route, an ICMP error). [Refused] or [TimedOut] narrow
// it to that outcome. Targets and other options are those of [CanDial].
//
//	dial udp h1 -> h2 (198.18.0.14:53): timed out after 1s, want refused; h1's kernel routes it: 198.18.0.14 via 198.18.0.2 dev eth0 src 198.18.0.1
func NoDial(t TestingT, n *nettest.Network, from, network, to string, port int, opts ...NoDialOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return check(t, "NoDial", n, options(opts, NoDialOption.noDialOption), dialCheck(n, from, network, to, port, false))
}

// Outcomes of a dial.
const (
	connected   = "connected"
	refused     = "refused"
	timedOut    = "timed out"
	unreachable = "unreachable"
)

// dialLeg is one dial of a check: one source, one destination address.
type dialLeg struct {
	from    *nettest.Node
	network string
	src     netip.Addr
	dst     netip.AddrPort
	subject string
}

func dialCheck(n *nettest.Network, from, network, to string, port int, connects bool) func(config) (try, error) {
	return func(c config) (try, error) {
		legs, err := dialLegs(n, &c, from, network, to, port)
		if err != nil {
			return nil, fmt.Errorf("dial %s %s -> %s port %d: %w", network, from, to, port, err)
		}
		return func() ([]finding, error) {
			return parallel(len(legs), func(i int) (finding, error) { return legs[i].judge(c, connects) })
		}, nil
	}
}

// dialLegs resolves a dial's source and target: one leg per family.
func dialLegs(n *nettest.Network, c *config, from, network, to string, port int) ([]dialLeg, error) {
	if !slices.Contains([]string{"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"}, network) {
		return nil, fmt.Errorf("network %q: want tcp, tcp4, tcp6, udp, udp4 or udp6", network)
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("port %d: want 1 to 65535", port)
	}
	if f, ok := map[byte]nettest.Family{'4': nettest.IPv4, '6': nettest.IPv6}[network[len(network)-1]]; ok {
		if len(c.families) > 0 && !slices.Contains(c.families, f) {
			return nil, fmt.Errorf("network %s is %s, but the check asks for %s", network, f, familyList(c.families))
		}
		c.families = []nettest.Family{f}
	}
	legs, err := pingLegs(n, *c, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]dialLeg, len(legs))
	for i, l := range legs {
		dst := netip.AddrPortFrom(l.dst, uint16(port))
		out[i] = dialLeg{from: l.from, network: network, src: l.src, dst: dst,
			subject: fmt.Sprintf("dial %s %s -> %s", network, from, l.to.label(dst.String()))}
	}
	return out, nil
}

// judge dials once and judges the outcome.
func (l dialLeg) judge(c config, connects bool) (finding, error) {
	kind, seen, err := l.dial(c)
	if err != nil {
		return finding{}, fmt.Errorf("%s: %w", l.subject, err)
	}
	f := finding{subject: l.subject, seen: seen}
	if connects {
		f.ok, f.want = kind == connected, connected
	} else {
		var allowed []string
		if c.refused {
			allowed = append(allowed, refused)
		}
		if c.timedOut {
			allowed = append(allowed, timedOut)
		}
		f.want = strings.Join(allowed, " or ")
		if len(allowed) == 0 {
			allowed, f.want = []string{refused, timedOut, unreachable}, "no connection"
		}
		f.ok = slices.Contains(allowed, kind)
	}
	if !f.ok && kind != refused && kind != connected {
		f.note = routeNote(l.from, l.dst.Addr())
	}
	return f, nil
}

// dial connects from inside the node; over UDP it sends a datagram and
// waits for an answer. It returns the outcome and how to say it; an error
// when the dial could not be made at all.
func (l dialLeg) dial(c config) (kind, seen string, err error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	var conn net.Conn
	err = l.from.Do(func() (err error) {
		d := net.Dialer{FallbackDelay: -1}
		if l.src.IsValid() {
			if strings.HasPrefix(l.network, "udp") {
				d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.src, 0))
			} else {
				d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.src, 0))
			}
		}
		conn, err = d.DialContext(ctx, l.network, l.dst.String())
		return err
	})
	if err == nil && strings.HasPrefix(l.network, "udp") {
		err = exchange(ctx, conn)
	}
	if conn != nil {
		conn.Close()
	}
	switch {
	case err == nil:
		if strings.HasPrefix(l.network, "udp") {
			return connected, "connected (answered)", nil
		}
		return connected, connected, nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused, refused, nil
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return timedOut, fmt.Sprintf("%s after %v", timedOut, c.timeout), nil
	}
	for _, e := range []syscall.Errno{syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.EACCES, syscall.EPERM} {
		if errors.Is(err, e) {
			return unreachable, fmt.Sprintf("%s (%v)", unreachable, e), nil
		}
	}
	return "", "", err
}

// exchange sends a datagram on a connected UDP socket and waits for an
// answer until ctx ends.
func exchange(ctx context.Context, conn net.Conn) error {
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if _, err := conn.Write([]byte("nettest dial")); err != nil {
		return err
	}
	_, err := conn.Read(make([]byte, 2048))
	return err
}
