package nettest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/icmpping"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// echoes returns the ICMP and ICMPv6 echo messages of a capture, one line
// each: "in 198.18.0.1 > 198.18.0.2 echo-request".
func echoes(t *testing.T, pkts []nettest.Packet) []string {
	t.Helper()
	var out []string
	for _, p := range pkts {
		g := gopacket.NewPacket(p.Data, p.LinkType, gopacket.Default)
		dir := "in"
		if p.Outgoing {
			dir = "out"
		}
		var src, dst, typ string
		if ip, ok := g.NetworkLayer().(*layers.IPv4); ok {
			src, dst = ip.SrcIP.String(), ip.DstIP.String()
		}
		if ip, ok := g.NetworkLayer().(*layers.IPv6); ok {
			src, dst = ip.SrcIP.String(), ip.DstIP.String()
		}
		if icmp, ok := g.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
			typ = nettest.ICMPTypeName(nettest.IPv4, icmp.TypeCode.Type())
		}
		if icmp, ok := g.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
			typ = nettest.ICMPTypeName(nettest.IPv6, icmp.TypeCode.Type())
		}
		if strings.HasPrefix(typ, "echo-") {
			out = append(out, dir+" "+src+" > "+dst+" "+typ)
		}
	}
	return out
}

// TestCaptureFirstPackets: a capture started right after Build records the
// first ping's request and reply, both ways, with their directions, in a
// pcapng file whose interface block names the interface; v4 and v6.
func TestCaptureFirstPackets(t *testing.T) {
	t.Parallel()
	for _, f := range bothFamilies {
		n := build(t, mustTopology(t, nettest.NewBuilder("cap-first").Host("h1", "h2").Link("h1", "h2")))
		h1, h2 := node(t, n, "h1"), node(t, n, "h2")
		path := filepath.Join(t.TempDir(), "h2.pcapng")
		c, err := h2.Capture("eth0", path)
		require.NoError(t, err)
		src, dst := addr(t, n, "h1", f), addr(t, n, "h2", f)
		_, err = icmpping.Ping(h1, dst, 2*time.Second)
		require.NoError(t, err)

		// Before Stop: what the kernel handed over is there.
		pkts, err := c.Packets()
		require.NoError(t, err)
		want := []string{"in " + src.String() + " > " + dst.String() + " echo-request", "out " + dst.String() + " > " + src.String() + " echo-reply"}
		require.Equal(t, want, echoes(t, pkts))
		// IPv6's own frames (MLD reports) may arrive between the two calls.
		require.GreaterOrEqual(t, c.Count(), len(pkts))

		require.NoError(t, c.Stop())
		require.NoError(t, c.Stop(), "Stop twice")
		require.Equal(t, path, c.Path())
		require.Equal(t, "h2:eth0", c.String())
		require.Zero(t, c.Dropped())

		// The file, read on its own.
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
		require.NoError(t, err)
		require.Equal(t, layers.LinkTypeEthernet, r.LinkType())
		intf, err := r.Interface(0)
		require.NoError(t, err)
		require.Equal(t, "eth0", intf.Name)
		require.Equal(t, "h2:eth0", intf.Description)
		require.Equal(t, "nettest", r.SectionInfo().Application)
		again, err := nettest.ReadPcapng(bytes.NewReader(data))
		require.NoError(t, err)
		require.Equal(t, want, echoes(t, again))
		require.Len(t, again, len(pkts))
		after, err := c.Packets()
		require.NoError(t, err, "Packets after Stop reads the file")
		require.Len(t, after, len(pkts))
	}
}

// TestCaptureInMemory: with no path the capture stays in memory; frames of
// other interfaces of the node are not in it.
func TestCaptureInMemory(t *testing.T) {
	t.Parallel()
	n := build(t, mustTopology(t, nettest.NewBuilder("cap-mem").Host("h1", "h2", "h3").Router("r1").
		Link("h1", "r1").Link("r1", "h2").Link("r1", "h3")))
	r1 := node(t, n, "r1")
	c, err := r1.Capture("eth1", "") // the link to h2
	require.NoError(t, err)
	defer c.Stop()
	ping(t, node(t, n, "h1"), addr(t, n, "h3", nettest.IPv4))
	// IPv6 keeps the link busy on its own (MLD reports of the groups a
	// new interface joins, for a second or two): only echoes count.
	early, err := c.Packets()
	require.NoError(t, err)
	require.Empty(t, echoes(t, early), "h1 to h3 does not cross r1:eth1")
	ping(t, node(t, n, "h1"), addr(t, n, "h2", nettest.IPv4))
	pkts, err := c.Packets()
	require.NoError(t, err)
	h1, h2 := addr(t, n, "h1", nettest.IPv4), addr(t, n, "h2", nettest.IPv4)
	require.Equal(t, []string{"out " + h1.String() + " > " + h2.String() + " echo-request", "in " + h2.String() + " > " + h1.String() + " echo-reply"}, echoes(t, pkts))
	require.NoError(t, c.Stop())
	require.Empty(t, c.Path())
	pkts, err = c.Packets()
	require.NoError(t, err)
	require.Len(t, echoes(t, pkts), 2)
}

// TestCaptureLoopbackAndSwitch: any interface the node's kernel has: the
// loopback (each frame once) and a LAN switch's bridge.
func TestCaptureLoopbackAndSwitch(t *testing.T) {
	t.Parallel()
	n := build(t, mustTopology(t, nettest.NewBuilder("cap-lo").Host("h1", "h2").LAN("lan", []string{"h1", "h2"})))
	h1 := node(t, n, "h1")
	lo, err := h1.Capture("lo", "")
	require.NoError(t, err)
	br, err := node(t, n, "lan").Capture("br0", "")
	require.NoError(t, err)
	ping(t, h1, netip.MustParseAddr("127.0.0.1"))
	ping(t, h1, addr(t, n, "h2", nettest.IPv6))
	require.NoError(t, lo.Stop())
	require.NoError(t, br.Stop())
	pkts, err := lo.Packets()
	require.NoError(t, err)
	require.Equal(t, []string{"in 127.0.0.1 > 127.0.0.1 echo-request", "in 127.0.0.1 > 127.0.0.1 echo-reply"}, echoes(t, pkts))
	pkts, err = br.Packets()
	require.NoError(t, err)
	require.Len(t, echoes(t, pkts), 2, "the bridge sees the members' frames")
}

// TestCaptureSync: Packets and Count take what waits in the socket first,
// so a burst the node has just sent is all there, however far behind the
// capture's reader is.
func TestCaptureSync(t *testing.T) {
	t.Parallel()
	n := build(t, mustTopology(t, nettest.NewBuilder("cap-sync").Host("h1", "h2").Link("h1", "h2")))
	h1 := node(t, n, "h1")
	c, err := h1.Capture("eth0", "")
	require.NoError(t, err)
	defer c.Stop()
	sink, err := node(t, n, "h2").ListenPacket("udp4", ":9") // no port unreachable comes back
	require.NoError(t, err)
	defer sink.Close()
	conn, err := h1.Dial("udp4", netip.AddrPortFrom(addr(t, n, "h2", nettest.IPv4), 9).String())
	require.NoError(t, err)
	defer conn.Close()
	conn.Write([]byte("first")) // resolves h2's MAC before the burst
	const burst = 100
	for round := range 10 {
		for range burst {
			_, err := conn.Write([]byte("nettest"))
			require.NoError(t, err)
		}
		pkts, err := c.Packets()
		require.NoError(t, err)
		sent := 0
		for _, p := range pkts {
			g := gopacket.NewPacket(p.Data, p.LinkType, gopacket.Default)
			if udp, ok := g.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && udp.DstPort == 9 && p.Outgoing {
				sent++
			}
		}
		require.Equal(t, 1+(round+1)*burst, sent, "round %d", round)
	}
	require.Zero(t, c.Dropped())
}

// TestCaptureTUN: a TUN device's frames have no link-layer header; the
// capture says so (LinkType Raw) and they decode as IP.
func TestCaptureTUN(t *testing.T) {
	t.Parallel()
	if f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0); err != nil && nettest.Rootless() {
		testenv.SkipIfRootless(t, "opening /dev/net/tun ("+err.Error()+")")
	} else if err == nil {
		f.Close()
	}
	n := build(t, mustTopology(t, nettest.NewBuilder("cap-tun").Host("h1", "h2").Link("h1", "h2")))
	h1 := node(t, n, "h1")
	var tun *os.File
	require.NoError(t, h1.Do(func() error { // the device is made in the namespace of the thread
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		tun = os.NewFile(uintptr(fd), "tun")
		ifr, err := unix.NewIfreq("tun0")
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		return unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}))
	defer tun.Close()
	require.NoError(t, h1.Netlink(func(h *netlink.Handle) error {
		link, err := h.LinkByName("tun0")
		require.NoError(t, err)
		require.NoError(t, h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 99, 0, 1), Mask: net.CIDRMask(24, 32)}}))
		return h.LinkSetUp(link)
	}))

	c, err := h1.Capture("tun0", "")
	require.NoError(t, err)
	_, err = icmpping.Ping(h1, netip.MustParseAddr("10.99.0.2"), 100*time.Millisecond)
	require.Error(t, err, "no one answers on the TUN device")
	require.NoError(t, c.Stop())
	pkts, err := c.Packets()
	require.NoError(t, err)
	require.NotEmpty(t, pkts)
	require.Equal(t, layers.LinkTypeRaw, pkts[0].LinkType)
	require.Equal(t, []string{"out 10.99.0.1 > 10.99.0.2 echo-request"}, echoes(t, pkts))
}

// TestCaptureTshark: tshark reads a capture's file: the interface's name,
// the addresses and the ICMP echo request and reply.
func TestCaptureTshark(t *testing.T) {
	testenv.RequireTools(t, "tshark")
	t.Parallel()
	n := build(t, mustTopology(t, nettest.NewBuilder("cap-tshark").Host("h1", "h2").Link("h1", "h2")))
	path := filepath.Join(t.TempDir(), "h1.pcapng")
	c, err := node(t, n, "h1").Capture("eth0", path)
	require.NoError(t, err)
	src, dst := addr(t, n, "h1", nettest.IPv4), addr(t, n, "h2", nettest.IPv4)
	ping(t, node(t, n, "h1"), dst)
	require.NoError(t, c.Stop())

	cmd := exec.Command("tshark", "-r", path, "-Y", "icmp", "-T", "fields",
		"-e", "frame.interface_name", "-e", "frame.interface_description", "-e", "ip.src", "-e", "ip.dst", "-e", "icmp.type")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no profile of the user's
	out, err := cmd.Output()
	require.NoError(t, err, "tshark: %s", out)
	require.Equal(t, []string{
		"eth0\th1:eth0\t" + src.String() + "\t" + dst.String() + "\t8",
		"eth0\th1:eth0\t" + dst.String() + "\t" + src.String() + "\t0",
	}, strings.Split(strings.TrimSpace(string(out)), "\n"))
	// And its one-line summary, as a person would read it.
	out, err = exec.Command("tshark", "-r", path, "-Y", "icmp").Output()
	require.NoError(t, err)
	require.Contains(t, string(out), "Echo (ping) request")
	require.Contains(t, string(out), "Echo (ping) reply")
}

// TestCaptureErrors: an unknown interface names the node and what it has;
// a file that cannot be made, and a closed network, say so.
func TestCaptureErrors(t *testing.T) {
	t.Parallel()
	n := build(t, mustTopology(t, nettest.NewBuilder("cap-err").Host("h1", "h2").Link("h1", "h2")))
	h1 := node(t, n, "h1")
	_, err := h1.Capture("eth9", "")
	require.ErrorContains(t, err, "nettest: node h1: capture on eth9: no such interface (node h1 has [lo eth0]): ")
	_, err = h1.Capture("eth0", filepath.Join(t.TempDir(), "no", "such", "dir", "x.pcapng"))
	require.ErrorContains(t, err, "nettest: node h1: capture on eth0: open ")
	require.NoError(t, n.Close())
	_, err = h1.Capture("eth0", "")
	require.EqualError(t, err, "nettest: node h1: the network is closed")
}

// Record what crosses h2's interface while h1 pings it, and decode the
// frames with gopacket. Give a path to get a pcapng file for Wireshark.
func ExampleNode_Capture() {
	n, err := nettest.NewBuilder("capture").Host("h1", "h2").Link("h1", "h2").Build(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	h1, _ := n.Node("h1")
	h2, _ := n.Node("h2")

	c, err := h2.Capture("eth0", "") // or a path: a pcapng file
	if err != nil {
		log.Fatal(err)
	}
	dst, _ := n.Addr("h2", nettest.IPv4)
	if _, err := h1.Ping(context.Background(), dst); err != nil {
		log.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		log.Fatal(err)
	}
	pkts, _ := c.Packets()
	for _, p := range pkts {
		g := gopacket.NewPacket(p.Data, p.LinkType, gopacket.Default)
		if icmp, ok := g.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
			fmt.Println("outgoing:", p.Outgoing, icmp.TypeCode)
		}
	}
	// Output:
	// outgoing: false EchoRequest
	// outgoing: true EchoReply
}

// TestCaptureSurvivesInterfaceDown: a capture goes on recording after its
// interface has been down and up again.
func TestCaptureSurvivesInterfaceDown(t *testing.T) {
	n := build(t, seedTopology())
	c, err := node(t, n, "blue").Capture("veth-blue", "")
	require.NoError(t, err)
	defer c.Stop()
	l, err := n.Link("red-blue")
	require.NoError(t, err)
	require.NoError(t, l.SetDown())
	require.NoError(t, l.SetUp(context.Background()))
	before := c.Count()
	ping(t, node(t, n, "red"), netip.MustParseAddr("10.1.1.2"))
	require.Greater(t, c.Count(), before, "frames after the interface came back")
	require.NoError(t, c.Stop())
}

// lockedBuffer is a writer the test reads while a capture writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("reader gone") }

// TestCaptureTo: a stream gets the file's header at once and each frame
// as it comes, before Stop: what a reader at the end of a pipe needs to
// show packets live. A writer that fails ends the capture with its error.
func TestCaptureTo(t *testing.T) {
	t.Parallel()
	n := build(t, mustTopology(t, nettest.NewBuilder("cap-to").Host("h1", "h2").Link("h1", "h2")))
	var w lockedBuffer
	c, err := node(t, n, "h2").CaptureTo("eth0", &w)
	require.NoError(t, err)
	defer c.Stop()
	require.NotEmpty(t, w.bytes(), "the header is written when the capture starts")
	ping(t, node(t, n, "h1"), addr(t, n, "h2", nettest.IPv4))
	h1, h2 := addr(t, n, "h1", nettest.IPv4), addr(t, n, "h2", nettest.IPv4)
	want := []string{"in " + h1.String() + " > " + h2.String() + " echo-request", "out " + h2.String() + " > " + h1.String() + " echo-reply"}
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		pkts, err := nettest.ReadPcapng(bytes.NewReader(w.bytes()))
		require.NoError(t, err)
		if got = echoes(t, pkts); len(got) == 2 {
			break
		}
	}
	require.Equal(t, want, got, "the frames are in the stream before Stop")
	_, err = c.Packets()
	require.ErrorContains(t, err, "cannot be read back")
	require.NoError(t, c.Stop())

	_, err = node(t, n, "h2").CaptureTo("eth0", failingWriter{})
	require.ErrorContains(t, err, "reader gone")
}
