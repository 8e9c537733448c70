package nettest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// PingOption adjusts [Node.Ping]. Without options a ping sends one echo
// request and waits up to a second for its reply.
type PingOption interface{ applyPing(*pingConfig) }

// pingConfig is a ping's settings.
type pingConfig struct {
	count    int
	interval time.Duration
	timeout  time.Duration
	src      netip.Addr
}

// pingOption is a PingOption made of a function.
type pingOption func(*pingConfig)

func (f pingOption) applyPing(c *pingConfig) { f(c) }

// PingCount sets the number of echo requests; 1 by default (as is n < 1).
func PingCount(n int) PingOption { return pingOption(func(c *pingConfig) { c.count = n }) }

// PingInterval sets the time between two requests; 100ms by default (as is
// d <= 0).
func PingInterval(d time.Duration) PingOption {
	return pingOption(func(c *pingConfig) { c.interval = d })
}

// PingTimeout sets how long each request waits for its reply; 1s by default
// (as is d <= 0). A reply that comes later does not count.
func PingTimeout(d time.Duration) PingOption {
	return pingOption(func(c *pingConfig) { c.timeout = d })
}

// PingSrc sets the source address (ping -I): one of the node's addresses,
// of the destination's family. The kernel chooses by default (as it does
// for the zero Addr).
func PingSrc(src netip.Addr) PingOption { return pingOption(func(c *pingConfig) { c.src = src }) }

const (
	defaultPingInterval = 100 * time.Millisecond
	defaultPingTimeout  = time.Second
)

// newPingConfig applies opts over the defaults.
func newPingConfig(opts []PingOption) pingConfig {
	var o pingConfig
	for _, opt := range opts {
		opt.applyPing(&o)
	}
	if o.count <= 0 {
		o.count = 1
	}
	if o.interval <= 0 {
		o.interval = defaultPingInterval
	}
	if o.timeout <= 0 {
		o.timeout = defaultPingTimeout
	}
	return o
}

// PingResult is what a ping saw.
type PingResult struct {
	// Dst is the address pinged.
	Dst netip.Addr
	// Sent counts the echo requests sent (or that the kernel refused to send).
	Sent int
	// Received counts the requests answered within the timeout.
	Received int
	// RTTs are the round-trip times of the replies, in the order they came.
	RTTs []time.Duration
	// Timeout is how long each request waited for its reply.
	Timeout time.Duration
	// Unreachable says why the network refused the destination, when it
	// did: "network is unreachable (the kernel has no route)", or an ICMP
	// error such as "destination unreachable (host unreachable) from
	// 198.18.0.2". The ping stops at the first such answer. Empty otherwise.
	Unreachable string
}

// Min returns the shortest round-trip time, 0 without replies.
func (r PingResult) Min() time.Duration {
	var m time.Duration
	for i, d := range r.RTTs {
		if i == 0 || d < m {
			m = d
		}
	}
	return m
}

// Max returns the longest round-trip time, 0 without replies.
func (r PingResult) Max() time.Duration {
	var m time.Duration
	for _, d := range r.RTTs {
		m = max(m, d)
	}
	return m
}

// Avg returns the mean round-trip time, 0 without replies.
func (r PingResult) Avg() time.Duration {
	if len(r.RTTs) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range r.RTTs {
		sum += d
	}
	return sum / time.Duration(len(r.RTTs))
}

// String sums the result up: "3/3 replies, rtt min/avg/max
// 0.041/0.052/0.067 ms", "0/3 replies within 1s", or "0/1 replies:
// destination unreachable (host unreachable) from 198.18.0.2".
func (r PingResult) String() string {
	s := fmt.Sprintf("%d/%d replies", r.Received, r.Sent)
	if r.Unreachable != "" {
		s += ": " + r.Unreachable
	} else if r.Received < r.Sent {
		s += " within " + r.Timeout.String()
	}
	if len(r.RTTs) > 0 {
		ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }
		s += fmt.Sprintf(", rtt min/avg/max %s/%s/%s ms", ms(r.Min()), ms(r.Avg()), ms(r.Max()))
	}
	return s
}

// ErrNoReply is wrapped by [Node.Ping]'s error when some echo requests got
// no reply: lost, late, or refused by the network (then the error wraps
// [ErrUnreachable] too).
var ErrNoReply = errors.New("no reply")

// ErrUnreachable is wrapped by [Node.Ping]'s error when the network said the
// destination is unreachable: the node's kernel refused to send (no route,
// an unreachable or prohibit route), or an ICMP error came back.
var ErrUnreachable = errors.New("unreachable")

// Ping sends ICMP echo requests (ping(8)) from inside the node to dst, IPv4
// or IPv6, and collects the replies. It returns when every request is
// answered, when the last one has waited its timeout, when the network says
// dst is unreachable, or when ctx ends.
//
// The error is nil when every request got its reply. Otherwise the result
// still says what was seen, and the error wraps [ErrNoReply] (and
// [ErrUnreachable] when the network refused) or says why the ping could not
// run.
//
// Ping uses an ICMP datagram socket, the one golang.org/x/net/icmp's
// ListenPacket("udp4") and ("udp6") open, with messages built and parsed by
// x/net/icmp: no raw socket, no privilege inside the node, and the kernel
// gives each socket only the replies to its own echo ID, so concurrent
// pings never see each other's replies. Replies are also checked for their
// sequence number and payload. The socket also asks for ICMP errors
// (IP_RECVERR, which x/net/icmp's socket cannot be given), so an
// unreachable destination fails at once with the reason. The socket is
// made inside the node; the ping itself runs on the calling goroutine.
//
// A reply counts when the kernel received it within the timeout (its
// receive timestamp, SO_TIMESTAMPNS), even if this process, on a busy
// machine, reads it later. A request the kernel has no buffer for
// (ENOBUFS: a full neighbour table, memory) is sent again, after 1ms, then
// twice as long each time up to 100ms, for at most the request's timeout.
func (n *Node) Ping(ctx context.Context, dst netip.Addr, opts ...PingOption) (PingResult, error) {
	o := newPingConfig(opts)
	dst = dst.Unmap()
	res := PingResult{Dst: dst, Timeout: o.timeout}
	if ctx == nil {
		return res, nilContext(n.where(), "Ping")
	}
	fail := func(err error) (PingResult, error) {
		return res, fmt.Errorf("%s: ping %s: %w", n.where(), dst, err)
	}
	if !dst.IsValid() {
		return fail(errors.New("no destination address"))
	}
	p, err := n.openPinger(dst, o.src)
	if err != nil {
		return fail(err)
	}
	defer p.conn.Close()
	stop := context.AfterFunc(ctx, func() { p.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	var token [8]byte
	rand.Read(token[:])
	var base [2]byte
	rand.Read(base[:])
	seq0 := int(binary.BigEndian.Uint16(base[:]))
	payload := func(i int) []byte { return fmt.Appendf(token[:len(token):len(token)], " nettest %d", i) }
	sentAt := make([]time.Time, o.count)
	answered := make([]bool, o.count)
	// take counts the reply in b if it answers a request in time.
	take := func(b []byte, arrived time.Time) {
		i, ok := p.reply(b, seq0, o.count, payload)
		if !ok || answered[i] || sentAt[i].IsZero() {
			return
		}
		if rtt := arrived.Sub(sentAt[i]); rtt <= o.timeout {
			answered[i] = true
			res.Received++
			res.RTTs = append(res.RTTs, max(rtt, 0))
		}
	}
	buf, oob := make([]byte, 1500), make([]byte, 128)
	var nextSend time.Time
	for res.Received < o.count {
		now := time.Now()
		if res.Sent < o.count && !now.Before(nextSend) {
			i := res.Sent
			sentAt[i] = now
			err := p.sendRetrying(ctx, (seq0+i)&0xffff, payload(i), o.timeout)
			res.Sent++
			if err != nil {
				if why, ok := sendRefused(err); ok {
					res.Unreachable = why
					break
				}
				return fail(err)
			}
			nextSend = now.Add(o.interval)
		}
		wait := nextSend
		if res.Sent == o.count {
			wait = sentAt[o.count-1].Add(o.timeout)
			if !now.Before(wait) {
				// Replies the kernel received in time may still be queued
				// when this goroutine runs late, on a busy machine.
				if err := p.drain(buf, oob, take); err != nil && ctx.Err() != nil {
					return fail(ctx.Err())
				}
				break
			}
		}
		if err := p.conn.SetReadDeadline(wait); err != nil {
			return fail(err)
		}
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		k, oobn, _, _, err := p.conn.ReadMsgUDP(buf, oob)
		if err != nil {
			if ctx.Err() != nil {
				return fail(ctx.Err())
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			var errno unix.Errno
			if errors.As(err, &errno) {
				res.Unreachable = p.icmpError(errno)
				break
			}
			return fail(err)
		}
		take(buf[:k], arrival(oob[:oobn]))
	}
	if res.Received < res.Sent {
		return res, &pingError{msg: fmt.Sprintf("%s: ping %s: %s", n.where(), dst, res), unreachable: res.Unreachable != ""}
	}
	return res, nil
}

// Sending an echo request again when the kernel had no buffer for it
// (ENOBUFS: a full neighbour table, memory): the first retry after
// sendRetryFirst, each later one after twice the wait before, at most
// sendRetryMax, for at most the request's timeout.
const (
	sendRetryFirst = time.Millisecond
	sendRetryMax   = 100 * time.Millisecond
)

// sendRetrying sends one echo request, again while the kernel has no
// buffer for it, for at most budget; the error is the last send's.
func (p *pinger) sendRetrying(ctx context.Context, seq int, data []byte, budget time.Duration) error {
	return retryNoBuffers(ctx, budget, func() error { return p.send(seq, data) })
}

// retryNoBuffers calls send until it does not fail with ENOBUFS, budget has
// passed or ctx has ended, waiting longer each time.
func retryNoBuffers(ctx context.Context, budget time.Duration, send func() error) error {
	deadline := time.Now().Add(budget)
	wait := sendRetryFirst
	for {
		err := send()
		if !errors.Is(err, unix.ENOBUFS) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return fmt.Errorf("%w (the kernel had no buffer for it for %v)", err, budget)
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, sendRetryMax)
	}
}

// drain hands take each message already queued on the socket, with the
// time the kernel received it.
func (p *pinger) drain(buf, oob []byte, take func(b []byte, arrived time.Time)) error {
	if err := p.conn.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	raw, err := p.conn.SyscallConn()
	if err != nil {
		return err
	}
	return raw.Read(func(fd uintptr) bool {
		for {
			k, oobn, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
			if err != nil {
				return true // nothing more queued, or an ICMP error: too late either way
			}
			take(buf[:k], arrival(oob[:oobn]))
		}
	})
}

// arrival returns the time the kernel received a message, from its
// SCM_TIMESTAMPNS control message, or now without one.
func arrival(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
				ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				return time.Unix(ts.Unix())
			}
		}
	}
	return time.Now()
}

// pingError reports requests without replies; it is ErrNoReply, and
// ErrUnreachable when the network refused.
type pingError struct {
	msg         string
	unreachable bool
}

func (e *pingError) Error() string { return e.msg }

func (e *pingError) Is(target error) bool {
	return target == ErrNoReply || (e.unreachable && target == ErrUnreachable)
}

// pinger is an ICMP datagram socket opened inside a node.
type pinger struct {
	conn      *net.UDPConn
	dst       *net.UDPAddr
	v6        bool
	reqType   icmp.Type
	replyType icmp.Type
}

// openPinger opens the socket inside the node, with ICMP errors on, bound
// to src when it is valid (so the kernel gives the socket its echo ID).
func (n *Node) openPinger(dst, src netip.Addr) (*pinger, error) {
	p := &pinger{reqType: ipv4.ICMPTypeEcho, replyType: ipv4.ICMPTypeEchoReply}
	af, proto, level, opt := unix.AF_INET, unix.IPPROTO_ICMP, unix.IPPROTO_IP, unix.IP_RECVERR
	if dst.Is6() {
		p.v6 = true
		p.reqType, p.replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
		af, proto, level, opt = unix.AF_INET6, unix.IPPROTO_ICMPV6, unix.IPPROTO_IPV6, unix.IPV6_RECVERR
	}
	if src.IsValid() && src.Unmap().Is6() != p.v6 {
		return nil, fmt.Errorf("source %s and destination %s are of different families", src, dst)
	}
	dstZone, err := n.zoneIndex(dst.Zone())
	if err != nil {
		return nil, err
	}
	srcZone, err := n.zoneIndex(src.Zone())
	if err != nil {
		return nil, err
	}
	p.dst = &net.UDPAddr{IP: dst.AsSlice(), Zone: dstZone}
	err = n.Do(func() error {
		fd, err := unix.Socket(af, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		f := os.NewFile(uintptr(fd), "icmp")
		defer f.Close()
		if err := unix.SetsockoptInt(fd, level, opt, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
		// The time each reply arrived, to judge it by rather than the
		// time this process reads it: late on a busy machine.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return os.NewSyscallError("setsockopt SO_TIMESTAMPNS", err)
		}
		var sa unix.Sockaddr = &unix.SockaddrInet4{}
		if p.v6 {
			sa = &unix.SockaddrInet6{}
		}
		if src.IsValid() {
			if p.v6 {
				zone, _ := strconv.Atoi(srcZone)
				sa = &unix.SockaddrInet6{Addr: src.As16(), ZoneId: uint32(zone)}
			} else {
				sa = &unix.SockaddrInet4{Addr: src.Unmap().As4()}
			}
		}
		if err := unix.Bind(fd, sa); err != nil {
			return fmt.Errorf("binding to %s: %w", src, os.NewSyscallError("bind", err))
		}
		c, err := net.FilePacketConn(f)
		if err != nil {
			return err
		}
		p.conn = c.(*net.UDPConn)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opening an ICMP socket: %w", err)
	}
	return p, nil
}

// zoneIndex turns an IPv6 zone naming one of the node's interfaces into its
// index, as a string: the Go runtime would look the name up in the
// caller's namespace instead.
func (n *Node) zoneIndex(zone string) (string, error) {
	if zone == "" {
		return "", nil
	}
	if _, err := strconv.Atoi(zone); err == nil {
		return zone, nil
	}
	var index int
	err := n.net.use("node "+n.p.name, func() error {
		l, err := n.ns.nl.LinkByName(zone)
		if err != nil {
			return fmt.Errorf("zone %q: no such interface in node %s: %w", zone, n.p.name, err)
		}
		index = l.Attrs().Index
		return nil
	})
	return strconv.Itoa(index), err
}

// send writes one echo request.
func (p *pinger) send(seq int, data []byte) error {
	msg := icmp.Message{Type: p.reqType, Body: &icmp.Echo{Seq: seq, Data: data}}
	b, err := msg.Marshal(nil) // the kernel sets the ID and the checksum
	if err != nil {
		return err
	}
	_, err = p.conn.WriteTo(b, p.dst)
	return err
}

// reply returns the index of the request that b answers.
func (p *pinger) reply(b []byte, seq0, count int, payload func(int) []byte) (int, bool) {
	proto := 1
	if p.v6 {
		proto = 58
	}
	m, err := icmp.ParseMessage(proto, b)
	if err != nil || m.Type != p.replyType {
		return 0, false
	}
	e, ok := m.Body.(*icmp.Echo)
	if !ok {
		return 0, false
	}
	i := (e.Seq - seq0) & 0xffff
	if i >= count || !bytes.Equal(e.Data, payload(i)) {
		return 0, false
	}
	return i, true
}

// sendRefused reports whether the kernel refused to send for want of a
// route (or because of an unreachable, prohibit or blackhole route), and
// says so.
func sendRefused(err error) (string, bool) {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return "", false
	}
	switch errno {
	case unix.ENETUNREACH, unix.EHOSTUNREACH, unix.EACCES, unix.EPERM, unix.EINVAL:
		return fmt.Sprintf("%v (the kernel refused to send)", errno), true
	}
	return "", false
}

// icmpError reads the ICMP error the kernel queued on the socket (errno is
// what the read returned) and describes it.
func (p *pinger) icmpError(errno unix.Errno) string {
	raw, err := p.conn.SyscallConn()
	if err != nil {
		return errno.Error()
	}
	var why string
	buf, oob := make([]byte, 512), make([]byte, 512)
	raw.Read(func(fd uintptr) bool {
		for why == "" {
			_, oobn, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
			if err != nil {
				break
			}
			why = describeExtendedErr(oob[:oobn])
		}
		return true
	})
	return cmp.Or(why, errno.Error())
}

// describeExtendedErr describes the sock_extended_err in a control message
// from the error queue: "destination unreachable (host unreachable) from
// 198.18.0.2".
func describeExtendedErr(oob []byte) string {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return ""
	}
	for _, m := range msgs {
		isErr := (m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_RECVERR) ||
			(m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_RECVERR)
		if !isErr || len(m.Data) < 16 {
			continue
		}
		// struct sock_extended_err { u32 errno; u8 origin, type, code, pad; u32 info, data; }
		// followed by the offender's sockaddr.
		errno := unix.Errno(binary.NativeEndian.Uint32(m.Data[0:4]))
		origin, typ, code := m.Data[4], m.Data[5], m.Data[6]
		var what string
		switch origin {
		case unix.SO_EE_ORIGIN_ICMP:
			what = icmpName(ipv4.ICMPType(typ).String(), icmp4Codes[[2]byte{typ, code}], typ, code)
		case unix.SO_EE_ORIGIN_ICMP6:
			what = icmpName(ipv6.ICMPType(typ).String(), icmp6Codes[[2]byte{typ, code}], typ, code)
		default:
			return errno.Error()
		}
		if from := offender(m.Data[16:]); from.IsValid() {
			what += " from " + from.String()
		}
		return what
	}
	return ""
}

func icmpName(typeName, codeName string, typ, code byte) string {
	if typeName == "" || strings.HasPrefix(typeName, "<nil>") {
		typeName = fmt.Sprintf("ICMP type %d", typ)
	}
	return typeName + " (" + cmp.Or(codeName, fmt.Sprintf("code %d", code)) + ")"
}

// offender returns the address in a sockaddr_in or sockaddr_in6.
func offender(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		if len(b) >= 8 {
			return netip.AddrFrom4([4]byte(b[4:8]))
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			return netip.AddrFrom16([16]byte(b[8:24]))
		}
	}
	return netip.Addr{}
}

var icmp4Codes = map[[2]byte]string{
	{3, 0}: "network unreachable", {3, 1}: "host unreachable", {3, 2}: "protocol unreachable",
	{3, 3}: "port unreachable", {3, 4}: "fragmentation needed", {3, 9}: "network prohibited",
	{3, 10}: "host prohibited", {3, 13}: "administratively prohibited",
	{11, 0}: "TTL exceeded in transit", {11, 1}: "fragment reassembly time exceeded",
}

var icmp6Codes = map[[2]byte]string{
	{1, 0}: "no route", {1, 1}: "administratively prohibited", {1, 2}: "beyond scope of source",
	{1, 3}: "address unreachable", {1, 4}: "port unreachable", {1, 5}: "source address failed policy",
	{1, 6}: "reject route", {2, 0}: "packet too big", {3, 0}: "hop limit exceeded in transit",
	{3, 1}: "fragment reassembly time exceeded",
}
