package nettest

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Dial connects to address on the named network ("tcp", "tcp4", "tcp6",
// "udp", "udp4", "udp6", ...) from inside the node, as [net.Dial] does. The
// socket is created in the node's namespace; the connection may be used
// from any goroutine and keeps the namespace alive until it is closed.
func (n *Node) Dial(network, address string) (net.Conn, error) {
	return n.DialContext(context.Background(), network, address)
}

// DialContext is [Node.Dial] with a context that bounds the connection
// attempt. A host that names a node of the topology ("h2", or "h2-eth1" for
// one interface, as in the topology's hosts file) dials that node's
// address (IPv4 first, unless the network says tcp6 or udp6); other host
// names are looked up by the Go resolver (the files and servers of the
// caller). Addresses are tried one after another from inside the node,
// without the parallel "happy eyeballs" attempts whose sockets would be
// made outside it.
func (n *Node) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if ctx == nil {
		return nil, nilContext(n.where(), "DialContext")
	}
	if host, port, err := net.SplitHostPort(address); err == nil {
		if a, ok := n.net.lookupHost(host, network); ok {
			address = net.JoinHostPort(a.String(), port)
		}
	}
	d := net.Dialer{FallbackDelay: -1} // every socket made on the calling, locked thread
	return inside(n, func() (net.Conn, error) { return d.DialContext(ctx, network, address) })
}

// lookupHost resolves a node name ("h2") or a node's interface ("h2-eth1")
// to an address of the family the network asks for (IPv4 first when it
// says neither).
func (n *Network) lookupHost(host, network string) (netip.Addr, bool) {
	var addrs []netip.Prefix
	if node := n.byName[host]; node != nil && !node.p.isSwitch {
		addrs = node.Addrs()
	} else {
		for _, node := range n.Nodes() {
			for _, in := range node.ifaces {
				if node.p.name+"-"+in.p.name == host {
					addrs = in.p.addrs
				}
			}
		}
	}
	want := []Family{IPv4, IPv6}
	switch network[len(network)-1] {
	case '4':
		want = want[:1]
	case '6':
		want = want[1:]
	}
	for _, f := range want {
		for _, a := range addrs {
			if FamilyOf(a.Addr()) == f {
				return a.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// HTTPClient returns an HTTP client whose connections are made from inside
// the node; URLs may name the topology's nodes ("http://h2:8080/"). It uses
// no proxy, whatever the environment says.
func (n *Node) HTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = n.DialContext
	return &http.Client{Transport: t}
}

// Listen announces on the local address inside the node, as [net.Listen]
// does ("tcp", "tcp4", "tcp6", "unix"). The listener lives in the node's
// namespace and may accept from any goroutine.
func (n *Node) Listen(network, address string) (net.Listener, error) {
	return inside(n, func() (net.Listener, error) { return net.Listen(network, address) })
}

// ListenPacket announces on the local address inside the node, as
// [net.ListenPacket] does ("udp", "udp4", "udp6", "ip4:1", ...). The socket
// lives in the node's namespace and may be used from any goroutine.
func (n *Node) ListenPacket(network, address string) (net.PacketConn, error) {
	return inside(n, func() (net.PacketConn, error) { return net.ListenPacket(network, address) })
}

// inside runs open inside the node (see [Node.Do]) and returns what it made.
func inside[T any](n *Node, open func() (T, error)) (T, error) {
	var v T
	err := n.Do(func() (err error) {
		v, err = open()
		return err
	})
	return v, err
}

// Echo serves an echo inside the node on address until stop is called: over
// TCP ("tcp", "tcp4", "tcp6") every accepted connection gets its bytes
// back; over UDP ("udp", "udp4", "udp6") every datagram goes back to its
// sender, from the address it was sent to. An address with port 0 gets a
// free port: addr is the address bound. stop closes the listener and every
// connection, waits for the serving goroutines and may be called more than
// once.
func (n *Node) Echo(network, address string) (addr net.Addr, stop func() error, err error) {
	var s *echoServer
	switch network {
	case "tcp", "tcp4", "tcp6":
		ln, err := n.Listen(network, address)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: echo on %s %s: %w", n.where(), network, address, err)
		}
		s = &echoServer{closer: ln, conns: map[net.Conn]bool{}}
		s.wg.Go(func() { s.acceptLoop(ln) })
		addr = ln.Addr()
	case "udp", "udp4", "udp6":
		pc, err := n.ListenPacket(network, address)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: echo on %s %s: %w", n.where(), network, address, err)
		}
		c := pc.(*net.UDPConn)
		serve, err := udpEcho(c)
		if err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("%s: echo on %s %s: %w", n.where(), network, address, err)
		}
		s = &echoServer{closer: c}
		s.wg.Go(serve)
		addr = c.LocalAddr()
	default:
		return nil, nil, fmt.Errorf("%s: echo on %s %s: network %q is not tcp, tcp4, tcp6, udp, udp4 or udp6", n.where(), network, address, network)
	}
	return addr, s.stop, nil
}

// echoServer is what Echo started.
type echoServer struct {
	closer   io.Closer
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool // open TCP connections
	stopped  bool
	stopOnce sync.Once
	stopErr  error
}

func (s *echoServer) acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			io.Copy(c, c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		})
	}
}

func (s *echoServer) stop() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.stopErr = s.closer.Close()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s.stopErr
}

// udpEcho returns the loop that sends every datagram c receives back to
// its sender. It replies from the address the datagram was sent to (the
// IP_PKTINFO and IPV6_PKTINFO it received), so that a socket bound to a
// wildcard address answers a client's connected socket from the address the
// client expects, not from the one its routes would choose.
func udpEcho(c *net.UDPConn) (func(), error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		domain, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if err != nil {
			serr = err
			return
		}
		// IPv4 datagrams, on an IPv6 socket too, carry IP_PKTINFO.
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		if serr == nil && domain == unix.AF_INET6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		}
	})
	if err = cmp.Or(err, serr); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	return func() {
		buf, oob := make([]byte, 65536), make([]byte, 256)
		for {
			k, oobn, _, from, err := c.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				return
			}
			reply := replyFrom(oob[:oobn])
			if _, _, err := c.WriteMsgUDPAddrPort(buf[:k], reply, from); err != nil && reply != nil {
				c.WriteMsgUDPAddrPort(buf[:k], nil, from) // a broadcast, say: answer from any address
			}
		}
	}, nil
}

// replyFrom returns the control message that sends a reply from the
// address a datagram was sent to, given the datagram's control messages;
// nil when it was sent to a multicast address or carried none.
func replyFrom(oob []byte) []byte {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= 12:
			// struct in_pktinfo { int ifindex; in_addr spec_dst, addr; }: addr is the header's destination.
			dst := netip.AddrFrom4([4]byte(m.Data[8:12]))
			if dst.IsMulticast() || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
				return nil
			}
			return unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: dst.As4()})
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= 20:
			// struct in6_pktinfo { in6_addr addr; int ifindex; }
			dst := netip.AddrFrom16([16]byte(m.Data[0:16]))
			if dst.IsMulticast() {
				return nil
			}
			info := &unix.Inet6Pktinfo{Addr: dst.As16()}
			if dst.IsLinkLocalUnicast() {
				info.Ifindex = binary.NativeEndian.Uint32(m.Data[16:20])
			}
			return unix.PktInfo6(info)
		}
	}
	return nil
}
