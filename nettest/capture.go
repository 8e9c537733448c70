package nettest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nettestlab/nettest/internal/packetsock"
	"github.com/nettestlab/nettest/internal/pcapng"
)

// Capture records the frames that cross one interface of a node, both
// ways, in a pcapng file that Wireshark and tshark open (or in memory).
// [Node.Capture] starts one; Stop ends it. It reads from an AF_PACKET
// socket opened inside the node's namespace and bound to the interface,
// which it puts in promiscuous mode as tcpdump does: no libpcap, no
// tcpdump, nothing in the host.
//
// The socket is live when Capture returns, so the first packet sent after
// it is recorded. Every frame the kernel handed to the socket before a call
// to Packets, Count or Stop is in what they read or write: a check made
// right after a ping sees the ping's packets. Its methods are safe for
// concurrent use.
type Capture struct {
	node     *Node
	iface    string
	path     string
	linkType layers.LinkType
	lo       bool // the loopback, whose frames the kernel shows twice

	sock *os.File
	raw  syscall.RawConn

	mu      sync.Mutex // guards what follows, and reading from the socket
	out     *os.File   // the file; nil in memory
	mem     *bytes.Buffer
	stream  io.Writer // CaptureTo's writer, flushed as frames come
	w       *pcapng.Writer
	count   int
	dropped uint64
	err     error // the first error reading or writing
	stopped bool  // the reading goroutine is to end
	closed  bool  // the socket is closed
	buf     []byte
	oob     []byte

	started  time.Time
	done     chan struct{} // closed when the reading goroutine ends
	stopOnce sync.Once
	stopErr  error
}

// Packet is one frame of a capture.
type Packet struct {
	// Time is when the kernel saw the frame.
	Time time.Time
	// Data is the frame as captured, from its link-layer header on.
	Data []byte
	// Length is the frame's length on the wire; more than len(Data) only
	// when the frame exceeded the capture buffer (256 KiB).
	Length int
	// Outgoing says the node sent the frame on the interface; false, that
	// it received it.
	Outgoing bool
	// LinkType is the kind of link-layer header Data starts with: Ethernet
	// for veth pairs, bridges, TAP devices and the loopback; Raw (an IP
	// header) for TUN devices.
	LinkType layers.LinkType
}

// captureBuffer bounds one frame: what libpcap takes by default, enough for
// the merged frames segmentation offload hands over.
const captureBuffer = 256 << 10

// Capture starts recording the frames that cross the node's interface
// iface (any the node's kernel has: the topology's, "lo", a LAN switch's
// "br0", one made after Build) to a pcapng file at path, created or
// truncated; with path "", in memory only, for [Capture.Packets]. The
// file's interface block carries the interface's name, and "node:iface" as
// its description. Call Stop to flush and close it.
func (n *Node) Capture(iface, path string) (*Capture, error) {
	return n.capture(iface, path, nil)
}

// CaptureTo is Capture writing the pcapng stream to w as the frames come:
// the file's header at once, then each batch of frames the socket hands
// over, flushed, so that a reader shows them live (tshark -r - at the end
// of a pipe, wireshark -k -i -). Packets cannot read a stream back. The
// first error writing to w ends the capture; Stop returns it.
func (n *Node) CaptureTo(iface string, w io.Writer) (*Capture, error) {
	if w == nil {
		return nil, fmt.Errorf("nettest: node %s: capture on %s: no writer", n.p.name, iface)
	}
	return n.capture(iface, "", w)
}

func (n *Node) capture(iface, path string, stream io.Writer) (*Capture, error) {
	c := &Capture{node: n, iface: iface, path: path, stream: stream, done: make(chan struct{}),
		buf: make([]byte, captureBuffer), oob: make([]byte, 256)}
	var index int
	var err error
	if closed := n.net.use("node "+n.p.name, func() error {
		index, err = c.link(n)
		return nil
	}); closed != nil {
		return nil, closed
	}
	if err == nil {
		err = c.start(index)
	}
	if err != nil {
		return nil, fmt.Errorf("nettest: node %s: capture on %s: %w", n.p.name, iface, err)
	}
	go c.run()
	return c, nil
}

// link finds the interface in the node's kernel: its index and the link
// type of its frames.
func (c *Capture) link(n *Node) (int, error) {
	l, err := n.ns.nl.LinkByName(c.iface)
	if err != nil {
		names, _ := n.linkNames()
		return 0, fmt.Errorf("no such interface (node %s has %v): %w", n.p.name, names, err)
	}
	switch enc := l.Attrs().EncapType; enc {
	case "ether":
		c.linkType = layers.LinkTypeEthernet
	case "loopback":
		c.linkType, c.lo = layers.LinkTypeEthernet, true
	case "none":
		c.linkType = layers.LinkTypeRaw
	default:
		return 0, fmt.Errorf("link type %q: nettest captures Ethernet, loopback and TUN interfaces", enc)
	}
	return l.Attrs().Index, nil
}

// start opens the file and the socket.
func (c *Capture) start(index int) error {
	n := c.node
	var err error
	var w io.Writer
	if c.stream != nil {
		w = c.stream
	} else if c.path == "" {
		c.mem = &bytes.Buffer{}
		w = c.mem
	} else if c.out, err = os.Create(c.path); err != nil {
		return err
	} else {
		w = c.out
	}
	c.w, err = pcapng.NewWriter(w, pcapng.Interface{Name: c.iface, Description: c.String(), LinkType: c.linkType},
		fmt.Sprintf("nettest capture on %s of topology %s", c, n.net.name))
	if err == nil {
		err = c.openSocket(index)
	}
	if err == nil && c.stream != nil {
		if err = c.w.Flush(); err != nil {
			c.sock.Close()
		}
	}
	if err != nil {
		if c.out != nil {
			c.out.Close()
			os.Remove(c.path)
		}
		return err
	}
	c.started = time.Now()
	return nil
}

// openSocket opens the packet socket inside the node.
func (c *Capture) openSocket(index int) error {
	err := c.node.Do(func() (err error) {
		c.sock, err = packetsock.Open(index, "packet socket "+c.String())
		return err
	})
	if err != nil {
		return err
	}
	if c.raw, err = c.sock.SyscallConn(); err != nil {
		c.sock.Close()
		return err
	}
	return nil
}

// run reads the socket until Stop.
func (c *Capture) run() {
	defer close(c.done)
	c.raw.Read(func(fd uintptr) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.drain(int(fd))
		return c.stopped || c.err != nil // false: wait for more
	})
}

// drain writes every frame waiting in the socket. It holds c.mu.
func (c *Capture) drain(fd int) {
	if c.err != nil {
		return
	}
	c.err = packetsock.Drain(fd, c.buf, c.oob, c.lo, func(f packetsock.Frame) error {
		if err := c.w.WritePacket(f.Time, f.Data, f.Length, f.Outgoing); err != nil {
			return fmt.Errorf("writing %s: %w", c.where(), err)
		}
		c.count++
		return nil
	})
	if c.stream != nil && c.err == nil {
		if err := c.w.Flush(); err != nil {
			c.err = fmt.Errorf("writing %s: %w", c.where(), err)
		}
	}
}

// sync takes what waits in the socket and the kernel's drop count. It
// holds c.mu.
func (c *Capture) sync() {
	if c.closed {
		return
	}
	c.raw.Control(func(fd uintptr) {
		c.drain(int(fd))
		c.dropped += packetsock.Drops(int(fd))
	})
}

func (c *Capture) where() string {
	if c.stream != nil {
		return "the capture's stream"
	}
	if c.path == "" {
		return "the capture"
	}
	return c.path
}

// Stop ends the capture: it records what waits in the socket, closes the
// socket, writes the interface statistics (frames recorded and dropped)
// and flushes and closes the file. It returns the first error met while
// capturing, and may be called more than once.
func (c *Capture) Stop() error {
	c.stopOnce.Do(func() {
		// End the reading goroutine, then take the rest here.
		c.mu.Lock()
		c.stopped = true
		c.mu.Unlock()
		c.sock.SetReadDeadline(time.Now())
		<-c.done
		c.mu.Lock()
		defer c.mu.Unlock()
		c.sync()
		c.closed = true
		errs := []error{c.err, c.sock.Close()}
		end := time.Now()
		errs = append(errs, c.w.WriteStats(c.started, end, uint64(c.count), c.dropped), c.w.Flush())
		if c.out != nil {
			errs = append(errs, c.out.Close())
		}
		if err := errors.Join(errs...); err != nil {
			c.stopErr = fmt.Errorf("nettest: capture on %s: %w", c, err)
		}
	})
	return c.stopErr
}

// Packets returns every frame recorded so far, in order, reading back the
// file (or memory) after taking what waits in the socket. It works after
// Stop too, as long as the file is where it was written.
func (c *Capture) Packets() ([]Packet, error) {
	if c.stream != nil {
		return nil, fmt.Errorf("nettest: capture on %s: written to a stream (CaptureTo), which cannot be read back", c)
	}
	c.mu.Lock()
	c.sync()
	var data []byte
	var err error
	if !c.closed {
		err = c.w.Flush()
	}
	if c.mem != nil {
		data = bytes.Clone(c.mem.Bytes())
	}
	c.mu.Unlock()
	if err == nil && data == nil {
		data, err = os.ReadFile(c.path)
	}
	if err != nil {
		return nil, fmt.Errorf("nettest: capture on %s: %w", c, err)
	}
	pkts, err := ReadPcapng(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("nettest: capture on %s: reading %s: %w", c, c.where(), err)
	}
	return pkts, nil
}

// ReadPcapng reads the frames of a pcapng stream, such as a capture's file:
// every frame of every interface, with its direction when the file records
// it.
func ReadPcapng(r io.Reader) ([]Packet, error) {
	pkts, err := pcapng.Read(r)
	var out []Packet
	for _, p := range pkts {
		out = append(out, Packet(p))
	}
	return out, err
}

// Count returns how many frames the capture has recorded so far (as Packets
// would, without reading them back).
func (c *Capture) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sync()
	return c.count
}

// Dropped returns how many frames the kernel dropped because the capture
// did not read them in time (its socket buffer was full). A capture that
// dropped frames cannot prove a frame never crossed.
func (c *Capture) Dropped() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sync()
	return c.dropped
}

// Path returns the file the capture writes, "" for one in memory.
func (c *Capture) Path() string { return c.path }

// Node returns the node the capture runs in.
func (c *Capture) Node() *Node { return c.node }

// Interface returns the name of the interface captured.
func (c *Capture) Interface() string { return c.iface }

// String returns "node:iface".
func (c *Capture) String() string { return c.node.p.name + ":" + c.iface }
