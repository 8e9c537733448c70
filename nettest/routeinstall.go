package nettest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// routeOp is what a routeChange does with its route.
type routeOp uint8

const (
	// routeAdd creates the route; one with the same destination and
	// metric already there is an error ("ip route add").
	routeAdd routeOp = iota
	// routeReplace creates the route or replaces the one with the same
	// destination and metric ("ip route replace").
	routeReplace
	// routeDel removes the route; one already gone (with its interface,
	// say) is no error ("ip route del").
	routeDel
)

// routeChange is one change installRoutes makes to a node's routes. err is
// what the kernel answered: nil once installRoutes has made the change,
// errNotSent if it could not ask.
type routeChange struct {
	op  routeOp
	rp  *routePlan
	err error
}

// errNotSent is the err of a routeChange that was not sent to the kernel.
var errNotSent = errors.New("not sent")

// routeBatchBytes bounds the requests sent in one message to the kernel: a
// few hundred to a thousand routes, well within the socket's send buffer
// (the kernel refuses a message larger than it), and the errors of all of
// them within its receive buffer.
const routeBatchBytes = 64 << 10

// routeMaxBytes bounds the size of one request: a batch is sent when it
// has less room left. A route with many next hops can exceed it; it then
// makes a message a little larger.
const routeMaxBytes = 512

// installRoutes makes every change (automatic or given routes alike) in the
// node's namespace, many requests per message on the namespace's netlink
// socket instead of a round trip per route. The kernel handles the requests
// of one message in order, each on its own: one it refuses does not stop
// the others. It answers only those it refuses, and the last of each
// message, which says the message is done. Each change's err is set; the
// error returned names the node (where says what for, e.g. "following the
// links: ") and the first refused route, with how many more were refused,
// or is about the socket.
func (n *Node) installRoutes(where string, changes []routeChange) error {
	if len(changes) == 0 {
		return nil
	}
	return n.ns.with(func(c *nsConn) error { return n.installRoutesOn(c.raw, where, changes) })
}

// installRoutes' work, on the namespace's raw netlink socket.
func (n *Node) installRoutesOn(raw *nl.SocketHandle, where string, changes []routeChange) error {
	sock := raw.Socket
	sock.Lock()
	defer sock.Unlock()
	pid, err := sock.GetPid()
	if err != nil {
		return fmt.Errorf("%s: %sroutes: netlink socket: %w", n.where(), where, err)
	}
	bufp, rbufp := routeBufs.Get().(*[]byte), routeBufs.Get().(*[]byte)
	defer routeBufs.Put(bufp)
	defer routeBufs.Put(rbufp)
	var (
		buf     = (*bufp)[:0]
		seqs    []uint32 // of the requests in buf
		start   int      // the change buf begins with
		lastOff int      // where buf's last request begins
	)
	flush := func(end int) error {
		// Only the last request asks for an acknowledgement: its answer
		// says the kernel is done with the message.
		flags := nl.NativeEndian().Uint16(buf[lastOff+6:])
		nl.NativeEndian().PutUint16(buf[lastOff+6:], flags|unix.NLM_F_ACK)
		err := n.sendRoutes(sock, pid, buf, (*rbufp)[:cap(*rbufp)], changes[start:end], seqs)
		buf, seqs, start = buf[:0], seqs[:0], end
		if err != nil {
			return fmt.Errorf("%s: %sroutes: %w", n.where(), where, err)
		}
		return nil
	}
	for i := range changes {
		changes[i].err = errNotSent
	}
	for i := range changes {
		if len(buf) > routeBatchBytes-routeMaxBytes {
			if err := flush(i); err != nil {
				return err
			}
		}
		seq := atomic.AddUint32(&raw.Seq, 1)
		lastOff = len(buf)
		buf = n.appendRouteMessage(buf, &changes[i], seq)
		seqs = append(seqs, seq)
	}
	if err := flush(len(changes)); err != nil {
		return err
	}
	var bad *routeChange
	refused := 0
	for i := range changes {
		if c := &changes[i]; c.err != nil {
			if bad == nil {
				bad = c
			}
			refused++
		}
	}
	if bad == nil {
		return nil
	}
	what := "route"
	if bad.op == routeDel {
		what = "removing route"
	}
	err = fmt.Errorf("%s: %s%s %s: %w", n.where(), where, what, bad.rp.r, bad.err)
	if refused > 1 {
		err = fmt.Errorf("%w (and %d more routes refused)", err, refused-1)
	}
	return err
}

// routeBufs holds the buffers installRoutes sends and receives with.
var routeBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, routeBatchBytes+routeMaxBytes)
	return &b
}}

// sendRoutes sends one message of requests, those of batch with sequence
// numbers seqs (ascending), and reads the kernel's answers until the one
// to the last, setting each change's err. rbuf is room to receive into.
func (n *Node) sendRoutes(sock *nl.NetlinkSocket, pid uint32, buf, rbuf []byte, batch []routeChange, seqs []uint32) error {
	fd := sock.GetFd()
	if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending %d requests: %w", len(batch), err)
	}
	for {
		// The kernel has answered by the time sendto returns (it handles
		// a message to it in the sending thread): read without waiting,
		// into rbuf, and only wait (netlink's Receive) if there is
		// nothing yet after all.
		var msgs []syscall.NetlinkMessage
		nr, _, err := unix.Recvfrom(fd, rbuf, unix.MSG_DONTWAIT)
		switch {
		case err == nil:
			msgs, err = syscall.ParseNetlinkMessage(rbuf[:nr])
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			msgs, _, err = sock.Receive()
		}
		if err != nil {
			return fmt.Errorf("reading the answers to %d requests: %w", len(batch), err)
		}
		for _, m := range msgs {
			k, ok := slices.BinarySearch(seqs, m.Header.Seq)
			if !ok || m.Header.Pid != pid || m.Header.Type != unix.NLMSG_ERROR {
				continue // an answer to an earlier request
			}
			c := &batch[k]
			c.err = nil
			if len(m.Data) >= 4 {
				if e := int32(nl.NativeEndian().Uint32(m.Data[:4])); e != 0 {
					c.err = syscall.Errno(-e)
				}
			}
			if c.op == routeDel && (errors.Is(c.err, unix.ESRCH) || errors.Is(c.err, unix.ENODEV)) {
				c.err = nil
			}
			if k == len(seqs)-1 {
				// Done: the kernel made every change it did not refuse.
				for i := range batch {
					if batch[i].err == errNotSent {
						batch[i].err = nil
					}
				}
				return nil
			}
		}
	}
}

// appendRouteMessage appends the request for one change to buf, as
// netlink's Handle.RouteAdd, RouteReplace and RouteDel would serialize the
// route (gateway or interface alone, or next hops; metric), with sequence
// number seq, without asking for
// an acknowledgement (the kernel answers a refusal all the same). It writes
// into buf rather than allocate each part: a large topology has a million
// routes.
func (n *Node) appendRouteMessage(buf []byte, c *routeChange, seq uint32) []byte {
	rp := c.rp
	typ, flags := uint16(unix.RTM_NEWROUTE), uint16(unix.NLM_F_REQUEST|unix.NLM_F_CREATE)
	msg := nl.NewRtMsg()
	switch c.op {
	case routeAdd:
		flags |= unix.NLM_F_EXCL
	case routeReplace:
		flags |= unix.NLM_F_REPLACE
	default:
		typ, flags = unix.RTM_DELROUTE, unix.NLM_F_REQUEST
		msg = nl.NewRtDelMsg()
	}
	start := len(buf)
	var hdr [unix.SizeofNlMsghdr]byte // its length is written last
	ne := nl.NativeEndian()
	ne.PutUint16(hdr[4:], typ)
	ne.PutUint16(hdr[6:], flags)
	ne.PutUint32(hdr[8:], seq)
	buf = append(buf, hdr[:]...)

	msg.Family = uint8(netlinkFamily(rp.family))
	if rp.table != 0 { // a table of the user's: in the header up to 255, else in RTA_TABLE alone
		msg.Table = unix.RT_TABLE_UNSPEC
		if rp.table < 256 {
			msg.Table = uint8(rp.table)
		}
	}
	msg.Dst_len = uint8(rp.dst.Bits())
	msg.Scope = unix.RT_SCOPE_UNIVERSE
	hop := func(h hopPlan) (uint32, []byte) {
		idx := 0
		if h.dev != nil {
			idx = n.net.iface(h.dev).index()
		}
		var gw []byte
		if h.via.IsValid() {
			gw = h.via.AsSlice()
		}
		return uint32(idx), gw
	}
	var oif uint32
	var gw, mp []byte
	if len(rp.r.NextHops) == 0 {
		oif, gw = hop(rp.hops[0])
		if gw == nil {
			msg.Scope = unix.RT_SCOPE_LINK
		}
	} else {
		for _, h := range rp.hops {
			idx, gw := hop(h)
			nh := &nl.RtNexthop{RtNexthop: unix.RtNexthop{Hops: uint8(h.weight - 1), Ifindex: int32(idx)}}
			if gw != nil {
				nh.Children = []nl.NetlinkRequestData{nl.NewRtAttr(unix.RTA_GATEWAY, gw)}
			}
			mp = append(mp, nh.Serialize()...)
		}
	}
	buf = append(buf, msg.Serialize()...)
	dst := rp.dst.Addr().As16()
	if rp.family == IPv4 {
		buf = appendAttr(buf, unix.RTA_DST, dst[12:])
	} else {
		buf = appendAttr(buf, unix.RTA_DST, dst[:])
	}
	if gw != nil {
		buf = appendAttr(buf, unix.RTA_GATEWAY, gw)
	}
	if mp != nil {
		buf = appendAttr(buf, unix.RTA_MULTIPATH, mp)
	}
	var u32 [4]byte
	if rp.metric > 0 {
		ne.PutUint32(u32[:], uint32(rp.metric))
		buf = appendAttr(buf, unix.RTA_PRIORITY, u32[:])
	}
	if oif != 0 {
		ne.PutUint32(u32[:], oif)
		buf = appendAttr(buf, unix.RTA_OIF, u32[:])
	}
	if rp.table != 0 {
		ne.PutUint32(u32[:], uint32(rp.table))
		buf = appendAttr(buf, unix.RTA_TABLE, u32[:])
	}
	ne.PutUint32(buf[start:], uint32(len(buf)-start))
	return buf
}

// appendAttr appends a route attribute, padded to the alignment netlink
// wants.
func appendAttr(buf []byte, typ uint16, data []byte) []byte {
	var hdr [unix.SizeofRtAttr]byte
	nl.NativeEndian().PutUint16(hdr[0:], uint16(unix.SizeofRtAttr+len(data)))
	nl.NativeEndian().PutUint16(hdr[2:], typ)
	buf = append(buf, hdr[:]...)
	buf = append(buf, data...)
	for range -len(data) & (unix.RTA_ALIGNTO - 1) {
		buf = append(buf, 0)
	}
	return buf
}
