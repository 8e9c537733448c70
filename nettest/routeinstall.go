package nettest

import (
	"errors"
	"fmt"
	"slices"
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
	sock := n.ns.raw.Socket
	sock.Lock()
	defer sock.Unlock()
	pid, err := sock.GetPid()
	if err != nil {
		return fmt.Errorf("%s: %sroutes: netlink socket: %w", n.where(), where, err)
	}
	var (
		buf     = make([]byte, 0, routeBatchBytes)
		seqs    []uint32 // of the requests in buf
		start   int      // the change buf begins with
		lastOff int      // where buf's last request begins
	)
	flush := func(end int) error {
		// Only the last request asks for an acknowledgement: its answer
		// says the kernel is done with the message.
		flags := nl.NativeEndian().Uint16(buf[lastOff+6:])
		nl.NativeEndian().PutUint16(buf[lastOff+6:], flags|unix.NLM_F_ACK)
		err := n.sendRoutes(sock, pid, buf, changes[start:end], seqs)
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
		seq := atomic.AddUint32(&n.ns.raw.Seq, 1)
		msg := n.routeMessage(&changes[i], seq)
		if len(buf) > 0 && len(buf)+len(msg) > routeBatchBytes {
			if err := flush(i); err != nil {
				return err
			}
		}
		lastOff = len(buf)
		buf = append(buf, msg...)
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

// sendRoutes sends one message of requests, those of batch with sequence
// numbers seqs (ascending), and reads the kernel's answers until the one
// to the last, setting each change's err.
func (n *Node) sendRoutes(sock *nl.NetlinkSocket, pid uint32, buf []byte, batch []routeChange, seqs []uint32) error {
	if err := unix.Sendto(sock.GetFd(), buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending %d requests: %w", len(batch), err)
	}
	for {
		msgs, _, err := sock.Receive()
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

// routeMessage serializes the request for one change, as netlink's
// Handle.RouteAdd, RouteReplace and RouteDel would for the route
// netlinkRoute makes, with sequence number seq, without asking for an
// acknowledgement (the kernel answers a refusal all the same).
func (n *Node) routeMessage(c *routeChange, seq uint32) []byte {
	rp := c.rp
	var req *nl.NetlinkRequest
	var msg *nl.RtMsg
	switch c.op {
	case routeAdd:
		req = nl.NewNetlinkRequest(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL)
		msg = nl.NewRtMsg()
	case routeReplace:
		req = nl.NewNetlinkRequest(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
		msg = nl.NewRtMsg()
	default:
		req = nl.NewNetlinkRequest(unix.RTM_DELROUTE, 0)
		msg = nl.NewRtDelMsg()
	}
	req.Seq = seq
	msg.Family = uint8(netlinkFamily(rp.family))
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
	attrs := []*nl.RtAttr{nl.NewRtAttr(unix.RTA_DST, rp.dst.Addr().AsSlice())}
	var oif uint32
	if len(rp.r.NextHops) == 0 {
		var gw []byte
		oif, gw = hop(rp.hops[0])
		if gw == nil {
			msg.Scope = unix.RT_SCOPE_LINK
		} else {
			attrs = append(attrs, nl.NewRtAttr(unix.RTA_GATEWAY, gw))
		}
	} else {
		var mp []byte
		for _, h := range rp.hops {
			idx, gw := hop(h)
			nh := &nl.RtNexthop{RtNexthop: unix.RtNexthop{Hops: uint8(h.weight - 1), Ifindex: int32(idx)}}
			if gw != nil {
				nh.Children = []nl.NetlinkRequestData{nl.NewRtAttr(unix.RTA_GATEWAY, gw)}
			}
			mp = append(mp, nh.Serialize()...)
		}
		attrs = append(attrs, nl.NewRtAttr(unix.RTA_MULTIPATH, mp))
	}
	if rp.metric > 0 {
		attrs = append(attrs, nl.NewRtAttr(unix.RTA_PRIORITY, nl.Uint32Attr(uint32(rp.metric))))
	}
	if oif != 0 {
		attrs = append(attrs, nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(oif)))
	}
	req.AddData(msg)
	for _, a := range attrs {
		req.AddData(a)
	}
	return req.Serialize()
}
