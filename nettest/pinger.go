package nettest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/sys/unix"
)

// Pinger pings from one node over one ICMP socket per address family,
// shared by every ping it makes: [Pinger.Ping] is [Node.Ping] without a
// socket of its own, for many pings at once from many goroutines. The
// kernel gives the socket the replies to its echo ID; the Pinger hands each
// to its ping by sequence number and payload. A ping given [PingSrc] still
// opens a socket of its own, bound to that address.
//
// A check of reachability on 1,000 hosts makes 999,000 pings: a socket
// each (made inside the node, registered, closed) cost as much as sending
// the requests. Close the Pinger when done; its sockets keep the node's
// namespace alive until then.
type Pinger struct {
	node   *Node
	mu     sync.Mutex
	socks  [2]*sharedSocket // IPv4, IPv6; opened on first use
	closed bool
}

// Pinger returns a Pinger for the node. It opens nothing until its first
// ping.
func (n *Node) Pinger() *Pinger { return &Pinger{node: n} }

// Close closes the Pinger's sockets. Pings still running fail.
func (p *Pinger) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for i, s := range p.socks {
		if s != nil {
			errs = append(errs, s.p.conn.Close())
			p.socks[i] = nil
		}
	}
	return errors.Join(errs...)
}

// socket returns the Pinger's socket for dst's family, opening it.
func (p *Pinger) socket(dst netip.Addr) (*sharedSocket, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("the Pinger is closed")
	}
	i := 0
	if dst.Is6() {
		i = 1
	}
	if p.socks[i] == nil {
		pg, err := p.node.openPinger(dst, netip.Addr{})
		if err != nil {
			return nil, err
		}
		s := &sharedSocket{p: pg, waiting: map[int]*pingWaiter{}}
		rand.Read(s.token[:])
		var b [2]byte
		rand.Read(b[:])
		s.next = int(binary.BigEndian.Uint16(b[:]))
		go s.read()
		p.socks[i] = s
	}
	return p.socks[i], nil
}

// sharedSocket is one ICMP socket of a Pinger, with the pings waiting on it.
type sharedSocket struct {
	p     *pinger
	token [8]byte

	mu      sync.Mutex
	next    int                 // the next sequence number to give out
	waiting map[int]*pingWaiter // by sequence number
}

// pingWaiter is a ping waiting for replies on a shared socket.
type pingWaiter struct {
	seq0, count int
	data        [][]byte // each request's payload
	replies     chan pingReply
}

// pingReply is what the socket saw for one request: a reply and when the
// kernel received it, or an ICMP error about the request.
type pingReply struct {
	i       int
	arrived time.Time
	icmpErr string
}

// register gives a ping count consecutive sequence numbers that no other
// ping on the socket holds.
func (s *sharedSocket) register(count int) (*pingWaiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiting)+count > 0xffff {
		return nil, errors.New("too many pings at once on one socket")
	}
	for tries := 0; ; tries++ {
		if tries > 0xffff {
			return nil, errors.New("too many pings at once on one socket")
		}
		free := true
		for i := range count {
			if s.waiting[(s.next+i)&0xffff] != nil {
				free = false
				s.next = (s.next + i + 1) & 0xffff
				break
			}
		}
		if free {
			break
		}
	}
	w := &pingWaiter{seq0: s.next, count: count, replies: make(chan pingReply, count)}
	for i := range count {
		w.data = append(w.data, fmt.Appendf(s.token[:len(s.token):len(s.token)], " nettest %d", w.seq0+i))
		s.waiting[(w.seq0+i)&0xffff] = w
	}
	s.next = (s.next + count) & 0xffff
	return w, nil
}

// unregister frees a ping's sequence numbers.
func (s *sharedSocket) unregister(w *pingWaiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range w.count {
		delete(s.waiting, (w.seq0+i)&0xffff)
	}
}

// dispatch hands a message read from the socket to the ping whose request
// it answers, if any still waits. The socket's lock is held.
func (s *sharedSocket) dispatch(b []byte, arrived time.Time) {
	seq, data, ok := s.p.echoOf(b, s.p.replyType)
	if !ok {
		return
	}
	w := s.waiting[seq]
	if w == nil {
		return
	}
	i := (seq - w.seq0) & 0xffff
	if !bytes.Equal(data, w.data[i]) {
		return
	}
	select {
	case w.replies <- pingReply{i: i, arrived: arrived}:
	default: // a duplicate: the channel holds one per request
	}
}

// dispatchError hands an ICMP error to the ping whose request it is about:
// the error queue gives back the request itself. The socket's lock is held.
func (s *sharedSocket) dispatchError(b []byte, why string) {
	seq, _, ok := s.p.echoOf(b, s.p.reqType)
	if !ok {
		return
	}
	if w := s.waiting[seq]; w != nil {
		select {
		case w.replies <- pingReply{i: (seq - w.seq0) & 0xffff, icmpErr: why}:
		default:
		}
	}
}

// read reads the socket until it is closed, handing replies and ICMP errors
// to their pings. It alone reads: a read waiting for data holds the
// socket's read lock. Each time the socket is readable it takes all that
// is queued, holding the socket's lock (see settle).
func (s *sharedSocket) read() {
	raw, err := s.p.conn.SyscallConn()
	if err != nil {
		return
	}
	buf, oob, errOOB := make([]byte, 1500), make([]byte, 128), make([]byte, 512)
	raw.Read(func(fd uintptr) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for {
			for {
				k, oobn, _, _, err := unix.Recvmsg(int(fd), buf, errOOB, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
				if err != nil {
					break
				}
				s.dispatchError(buf[:k], describeExtendedErr(errOOB[:oobn]))
			}
			k, oobn, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
			switch {
			case err == nil:
				s.dispatch(buf[:k], arrival(oob[:oobn]))
			case err == unix.EAGAIN:
				return false // wait until readable
			case err == unix.EBADF:
				return true
			}
			// Any other error is the socket's pending one, reported once,
			// for an ICMP error now in the error queue.
		}
	})
}

// settle waits until the reader has handed out every message the kernel
// had queued on the socket, for at most a second: a ping's last reply may
// have come in time but be read late, on a busy machine.
func (s *sharedSocket) settle() {
	raw, err := s.p.conn.SyscallConn()
	if err != nil {
		return
	}
	for range 1000 {
		queued := 0
		s.mu.Lock()
		raw.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		s.mu.Unlock()
		if queued == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// send writes one echo request. An ICMP error about another ping's request
// makes the socket's next send fail with it (the socket's pending error,
// cleared as it is reported; the error itself waits in the error queue for
// the reader): such a send is made again, so only the kernel's refusal of
// this request is returned.
func (s *sharedSocket) send(seq int, data []byte, to unix.Sockaddr) error {
	err := s.p.sendTo(seq, data, to)
	if _, refused := sendRefused(err); refused {
		err = s.p.sendTo(seq, data, to) // the pending error is cleared once reported
	}
	return err
}

// Ping is [Node.Ping] over the Pinger's socket for dst's family: the same
// options, result and errors.
func (p *Pinger) Ping(ctx context.Context, dst netip.Addr, opts ...PingOption) (PingResult, error) {
	n := p.node
	o := newPingConfig(opts)
	if o.src.IsValid() {
		return n.Ping(ctx, dst, opts...)
	}
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
	s, err := p.socket(dst)
	if err != nil {
		return fail(err)
	}
	zone, err := n.zoneIndex(dst.Zone())
	if err != nil {
		return fail(err)
	}
	to := s.p.sockaddr(dst, zone)
	w, err := s.register(o.count)
	if err != nil {
		return fail(err)
	}
	defer s.unregister(w)

	sentAt := make([]time.Time, o.count)
	answered := make([]bool, o.count)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var nextSend time.Time
	for res.Received < o.count {
		now := time.Now()
		if res.Sent < o.count && !now.Before(nextSend) {
			i := res.Sent
			sentAt[i] = now
			err := retryNoBuffers(ctx, o.timeout, func() error { return s.send((w.seq0+i)&0xffff, w.data[i], to) })
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
		}
		timer.Reset(max(time.Until(wait), 0))
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case r := <-w.replies:
			timer.Stop()
			if r.icmpErr != "" {
				res.Unreachable = r.icmpErr
				return res, &pingError{msg: fmt.Sprintf("%s: ping %s: %s", n.where(), dst, res), unreachable: true}
			}
			if answered[r.i] || sentAt[r.i].IsZero() {
				continue
			}
			if rtt := r.arrived.Sub(sentAt[r.i]); rtt <= o.timeout {
				answered[r.i] = true
				res.Received++
				res.RTTs = append(res.RTTs, max(rtt, 0))
			}
			continue
		case <-timer.C:
		}
		if res.Sent == o.count && !time.Now().Before(wait) {
			// Replies the kernel received in time may still be queued
			// when the reader runs late.
			s.settle()
			for done := false; !done; {
				select {
				case r := <-w.replies:
					if r.icmpErr == "" && !answered[r.i] && !sentAt[r.i].IsZero() && r.arrived.Sub(sentAt[r.i]) <= o.timeout {
						answered[r.i] = true
						res.Received++
						res.RTTs = append(res.RTTs, max(r.arrived.Sub(sentAt[r.i]), 0))
					}
				default:
					done = true
				}
			}
			break
		}
	}
	if res.Received < res.Sent {
		return res, &pingError{msg: fmt.Sprintf("%s: ping %s: %s", n.where(), dst, res), unreachable: res.Unreachable != ""}
	}
	return res, nil
}

// echoOf parses an echo message of type typ: its sequence number and data.
func (p *pinger) echoOf(b []byte, typ icmp.Type) (int, []byte, bool) {
	proto := 1
	if p.v6 {
		proto = 58
	}
	m, err := icmp.ParseMessage(proto, b)
	if err != nil || m.Type != typ {
		return 0, nil, false
	}
	e, ok := m.Body.(*icmp.Echo)
	if !ok {
		return 0, nil, false
	}
	return e.Seq, e.Data, true
}

// sockaddr is dst, with its zone's index, as a socket address.
func (p *pinger) sockaddr(dst netip.Addr, zone string) unix.Sockaddr {
	if p.v6 {
		var z int
		fmt.Sscan(zone, &z)
		return &unix.SockaddrInet6{Addr: dst.As16(), ZoneId: uint32(z)}
	}
	return &unix.SockaddrInet4{Addr: dst.As4()}
}

// sendTo writes one echo request to the socket address to.
func (p *pinger) sendTo(seq int, data []byte, to unix.Sockaddr) error {
	b, err := (&icmp.Message{Type: p.reqType, Body: &icmp.Echo{Seq: seq, Data: data}}).Marshal(nil)
	if err != nil {
		return err
	}
	raw, err := p.conn.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	err = raw.Write(func(fd uintptr) bool {
		sendErr = unix.Sendto(int(fd), b, 0, to)
		return sendErr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	if sendErr != nil {
		return os.NewSyscallError("sendto", sendErr)
	}
	return nil
}
