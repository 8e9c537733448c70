// Package baseline builds the baselines of nettest's benchmarks: the same
// topologies, built without nettest.
//
//   - Chain builds them with direct netlink/netns calls, doing the minimum a
//     competent engineer would write by hand: the kernel's own cost plus the
//     unavoidable round trips of github.com/vishvananda/netlink.
//   - ShellPair runs the seed tutorial's `ip netns` sequence with iproute2
//     and iputils ping, one `sh -c` per iteration.
//
// Neither touches the root network namespace: veth pairs are created with
// both ends directly in their target namespaces.
//
// It is test support: only benchmarks import it.
package baseline

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/nsthread"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// namespace is one anonymous network namespace of a baseline topology, held by a
// file descriptor, with a netlink handle whose socket lives inside it, and a
// raw netlink socket for the readiness dump (netlink.Handle does not parse
// IFLA_AF_SPEC).
type namespace struct {
	fd  netns.NsHandle
	nl  *netlink.Handle
	raw *nl.SocketHandle
}

func (ns *namespace) close() error {
	var err error
	if ns.nl != nil {
		ns.nl.Close()
		ns.nl = nil
	}
	if ns.raw != nil {
		ns.raw.Close()
		ns.raw = nil
	}
	if ns.fd >= 0 {
		err = ns.fd.Close()
		ns.fd = -1
	}
	return err
}

// writeSysctl writes a /proc/sys file of the calling thread's namespace.
func writeSysctl(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	return errors.Join(err, f.Close())
}

// newNamespaces creates one anonymous namespace per element of sysctls,
// writing those sysctls inside it, opening a NETLINK_ROUTE handle and a raw
// NETLINK_ROUTE socket in it and bringing its lo up. Everything runs on one
// locked OS thread (nsthread.Run), which unshares once per namespace and
// goes back to its original namespace at the end. On error the namespaces made so far are returned
// with the error, for the caller to close.
func newNamespaces(sysctls [][][2]string) ([]*namespace, error) {
	out := make([]*namespace, 0, len(sysctls))
	err := nsthread.Run(func() (func() error, error) {
		orig, err := netns.Get()
		if err != nil {
			return nil, fmt.Errorf("opening this thread's namespace: %w", err)
		}
		return nsthread.RestoreTo(orig), nil
	}, func() error {
		for i, set := range sysctls {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("namespace %d: unshare: %w", i, err)
			}
			ns := &namespace{fd: -1}
			out = append(out, ns)
			var err error
			if ns.fd, err = netns.Get(); err != nil {
				return fmt.Errorf("namespace %d: %w", i, err)
			}
			for _, kv := range set {
				if err := writeSysctl(kv[0], kv[1]); err != nil {
					return fmt.Errorf("namespace %d: sysctl %s: %w", i, kv[0], err)
				}
			}
			if ns.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
				return fmt.Errorf("namespace %d: netlink: %w", i, err)
			}
			sock, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
			if err != nil {
				return fmt.Errorf("namespace %d: netlink: %w", i, err)
			}
			ns.raw = &nl.SocketHandle{Socket: sock}
			if err := ns.nl.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1}}); err != nil {
				return fmt.Errorf("namespace %d: lo up: %w", i, err)
			}
		}
		return nil
	})
	return out, err
}

// do runs fn inside the namespace on a goroutine locked to its OS thread,
// then puts the thread back.
func do(fd netns.NsHandle, fn func() error) error {
	return nsthread.Run(func() (func() error, error) {
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		if err := netns.Set(fd); err != nil {
			orig.Close()
			return nil, err
		}
		return nsthread.RestoreTo(orig), nil
	}, fn)
}

// Topo is a baseline chain h1 - r1 - ... - rN - h2: node k is nss[k], link
// j joins node j (its "A" end, created with index index) and node j+1.
type Topo struct {
	nss    []*namespace
	up     [][]int       // per node, the indexes of its veth ends
	routes int           // routes installed
	routeT time.Duration // time spent installing them
	dst    netip.Addr
}

// index is the index asked of the kernel for the end of a veth created in
// its own namespace. The peer, created in a fresh namespace, gets a small
// index from the kernel (2, 3): were both ends to share an index, linkwatch
// would take the carrier change for non-urgent and delay it by up to 1s.
const index = 1000

// subnet returns link j's /30, the one nettest's automatic IPv4 addressing
// gives the j-th link: 198.18.0.0/16 in order, .1 on the A end, .2 on the B end.
func subnet(j int) netip.Prefix {
	a := netip.AddrFrom4([4]byte{198, 18, byte(4 * j >> 8), byte(4 * j)})
	return netip.PrefixFrom(a, 30)
}

func host(p netip.Prefix, n int) netip.Addr {
	b := p.Addr().As4()
	b[3] += byte(n)
	return netip.AddrFrom4(b)
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
}

// Chain builds h1 - r1 - ... - rN - h2 (routers may be 0: a pair) with
// direct netlink calls. With addrs, it installs what nettest's Auto{IPv4:
// true, Routes: true} installs: a /30 per link and, on every node, a route to
// every subnet it is not on; it opens h1 to ICMP datagram sockets
// (ping_group_range) for the ping and, with routers, gives both hosts
// ip_default_ttl=255 (as the nettest side does). Routers get ip_forward=1. It
// returns when every veth end is ready as nettest.Build defines it (waitUp).
func Chain(routers int, addrs bool) (_ *Topo, err error) {
	nodes := routers + 2
	sysctls := make([][][2]string, nodes)
	for k := 1; k <= routers; k++ {
		sysctls[k] = [][2]string{{"/proc/sys/net/ipv4/ip_forward", "1"}}
	}
	if addrs {
		sysctls[0] = [][2]string{{"/proc/sys/net/ipv4/ping_group_range", "0 2147483647"}}
		if routers > 0 {
			// As the nettest side: hosts send with TTL 255, so that an echo
			// and its reply survive more than 63 routers.
			ttl := [2]string{"/proc/sys/net/ipv4/ip_default_ttl", "255"}
			sysctls[0] = append(sysctls[0], ttl)
			sysctls[nodes-1] = append(sysctls[nodes-1], ttl)
		}
	}
	t := &Topo{up: make([][]int, nodes)}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	t.nss, err = newNamespaces(sysctls)
	if err != nil {
		return nil, err
	}

	// Veth pairs, both ends created in their namespaces, both up. The A end is
	// created up with a known index; the peer's index must be looked up.
	prevIdx := 0 // index of node k's end of link k-1
	for j := 0; j+1 < nodes; j++ {
		a, b := t.nss[j], t.nss[j+1]
		aName := "eth1"
		if j == 0 {
			aName = "eth0"
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.Index, attrs.Flags = aName, index, net.FlagUp
		veth := &netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(b.fd)}
		if err := a.nl.LinkAdd(veth); err != nil {
			return nil, fmt.Errorf("link %d: veth: %w", j, err)
		}
		peer, err := b.nl.LinkByName("eth0")
		if err != nil {
			return nil, fmt.Errorf("link %d: peer: %w", j, err)
		}
		if err := b.nl.LinkSetUp(peer); err != nil {
			return nil, fmt.Errorf("link %d: peer up: %w", j, err)
		}
		if j > 0 {
			t.up[j] = append(t.up[j], prevIdx)
		}
		t.up[j] = append(t.up[j], index)
		prevIdx = peer.Attrs().Index
	}
	t.up[nodes-1] = []int{prevIdx}

	if addrs {
		for j := 0; j+1 < nodes; j++ {
			sub := subnet(j)
			aIdx, bIdx := t.up[j][len(t.up[j])-1], t.up[j+1][0]
			if err := t.nss[j].nl.AddrAdd(dev(aIdx), &netlink.Addr{IPNet: ipNet(host(sub, 1), 30)}); err != nil {
				return nil, fmt.Errorf("link %d: address A: %w", j, err)
			}
			if err := t.nss[j+1].nl.AddrAdd(dev(bIdx), &netlink.Addr{IPNet: ipNet(host(sub, 2), 30)}); err != nil {
				return nil, fmt.Errorf("link %d: address B: %w", j, err)
			}
		}
		// Node k is on links k-1 and k. Subnets behind it on the left go via
		// node k-1's end of link k-1, those on the right via node k+1's end
		// of link k.
		start := time.Now()
		for k := 0; k < nodes; k++ {
			for j := 0; j+1 < nodes; j++ {
				var r *netlink.Route
				switch {
				case j < k-1:
					r = &netlink.Route{LinkIndex: t.up[k][0], Dst: ipNet(subnet(j).Addr(), 30), Gw: host(subnet(k-1), 1).AsSlice()}
				case j > k:
					r = &netlink.Route{LinkIndex: t.up[k][len(t.up[k])-1], Dst: ipNet(subnet(j).Addr(), 30), Gw: host(subnet(k), 2).AsSlice()}
				default:
					continue // connected
				}
				if err := t.nss[k].nl.RouteAdd(r); err != nil {
					return nil, fmt.Errorf("node %d: route %s: %w", k, r.Dst, err)
				}
				t.routes++
			}
		}
		t.routeT = time.Since(start)
		t.dst = host(subnet(nodes-2), 2)
	}
	if err := t.waitUp(10 * time.Second); err != nil {
		return nil, err
	}
	return t, nil
}

func dev(index int) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}
}

// waitUp polls every namespace's links (one dump per poll, backing off from
// 20µs to 5ms, as nettest does) until every veth end is ready as nettest
// defines it (the kernel's addrconf_link_ready): operstate UP and, where IPv6
// is on, the IPv6 IF_READY flag, which linkwatch sets only after it has
// activated the transmit queue (operstate is set just before).
func (t *Topo) waitUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for k, ns := range t.nss {
		pause := 20 * time.Microsecond
		for {
			ready, err := readyLinks(ns)
			if err != nil {
				return fmt.Errorf("node %d: links: %w", k, err)
			}
			pending := 0
			for _, idx := range t.up[k] {
				if !ready[idx] {
					pending++
				}
			}
			if pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %d: %d interfaces not ready after %v", k, pending, timeout)
			}
			time.Sleep(pause)
			pause = min(2*pause, 5*time.Millisecond)
		}
	}
	return nil
}

// readyLinks dumps the namespace's links and returns the indexes of those
// that are ready.
func readyLinks(ns *namespace) (map[int]bool, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: ns.raw}
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, err
	}
	ready := make(map[int]bool, len(msgs))
	for _, m := range msgs {
		if len(m) < unix.SizeofIfInfomsg {
			continue
		}
		index := int(int32(nl.NativeEndian().Uint32(m[4:8])))
		attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfInfomsg:])
		if err != nil {
			return nil, err
		}
		up, inet6, ready6 := false, false, false
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_OPERSTATE:
				up = len(a.Value) > 0 && a.Value[0] == netlink.OperUp
			case unix.IFLA_AF_SPEC:
				inet6, ready6 = inet6State(a.Value)
			}
		}
		ready[index] = up && (!inet6 || ready6)
	}
	return ready, nil
}

// inet6State reads IFLA_AF_SPEC: whether IPv6 is on for the interface
// (present, and DEVCONF_DISABLE_IPV6 not set) and whether IF_READY is set.
func inet6State(spec []byte) (on, ready bool) {
	const ifReady, devconfDisableIPv6 = 0x80000000, 26
	fams, err := nl.ParseRouteAttr(spec)
	if err != nil {
		return false, false
	}
	for _, f := range fams {
		if f.Attr.Type != unix.AF_INET6 {
			continue
		}
		attrs, err := nl.ParseRouteAttr(f.Value)
		if err != nil {
			return false, false
		}
		on = true
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_INET6_FLAGS:
				ready = len(a.Value) >= 4 && nl.NativeEndian().Uint32(a.Value)&ifReady != 0
			case unix.IFLA_INET6_CONF:
				if off := 4 * devconfDisableIPv6; len(a.Value) >= off+4 && nl.NativeEndian().Uint32(a.Value[off:]) != 0 {
					on = false
				}
			}
		}
	}
	return on, ready
}

// Close releases every namespace of the topology.
func (t *Topo) Close() error {
	var errs []error
	for i := len(t.nss) - 1; i >= 0; i-- {
		errs = append(errs, t.nss[i].close())
	}
	t.nss = nil
	return errors.Join(errs...)
}

var seq atomic.Uint32

// ping sends one ICMP echo request from inside ns to dst over an ICMP
// datagram socket opened in ns (as internal/icmpping does) and waits for the
// reply.
func ping(ns *namespace, dst netip.Addr, timeout time.Duration) (time.Duration, error) {
	var c *icmp.PacketConn
	if err := do(ns.fd, func() (err error) {
		c, err = icmp.ListenPacket("udp4", "")
		return err
	}); err != nil {
		return 0, fmt.Errorf("ping %s: socket: %w", dst, err)
	}
	defer c.Close()
	s := int(seq.Add(1) & 0xffff)
	payload := fmt.Appendf(nil, "baseline %d %d", os.Getpid(), s)
	b, err := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{Seq: s, Data: payload}}).Marshal(nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := c.SetDeadline(start.Add(timeout)); err != nil {
		return 0, err
	}
	if _, err := c.WriteTo(b, &net.UDPAddr{IP: dst.AsSlice()}); err != nil {
		return 0, fmt.Errorf("ping %s: %w", dst, err)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return 0, fmt.Errorf("ping %s: no reply: %w", dst, err)
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.Seq == s && bytes.Equal(e.Data, payload) {
			return time.Since(start), nil
		}
	}
}

// The shell baseline.

// ShellPrefix starts the name of every named namespace the shell baseline
// makes; nothing else is ever deleted.
const ShellPrefix = "nettest-bench-"

// shellScript is the seed tutorial's sequence, with the veth pair created
// directly in its namespaces instead of in the root namespace and moved
// (which would touch the host). The ping's status is kept apart from the
// rest: exit 100+status means "set up and torn down, but ping failed".
const shellScript = `set -e
ip netns add "$A"
ip netns add "$B"
ip link add veth-red netns "$A" type veth peer name veth-blue netns "$B"
ip -n "$A" addr add 10.1.1.1/24 dev veth-red
ip -n "$B" addr add 10.1.1.2/24 dev veth-blue
ip -n "$A" link set veth-red up
ip -n "$B" link set veth-blue up
ip -n "$A" link set lo up
ip -n "$B" link set lo up
rc=0
ip netns exec "$A" ping -c1 -W1 10.1.1.2 || rc=$?
ip netns del "$A"
ip netns del "$B"
if [ "$rc" -ne 0 ]; then exit $((100 + rc)); fi
`

// RequireShellTools skips (or, with NETTEST_REQUIRE_TOOLS=1, fails) the benchmark
// when iproute2 or iputils ping is missing.
func RequireShellTools(b *testing.B) {
	b.Helper()
	var missing []string
	for _, tool := range []string{"sh", "ip", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("shell baseline needs %s in PATH (iproute2, iputils-ping)", strings.Join(missing, ", "))
	if os.Getenv("NETTEST_REQUIRE_TOOLS") == "1" {
		b.Fatalf("NETTEST_REQUIRE_TOOLS=1 but: %s", msg)
	}
	b.Skip("skipping: " + msg)
}

var shellCounter atomic.Uint64

// shellNames returns two namespace names unique to this process and call.
func shellNames() (string, string) {
	base := ShellPrefix + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(shellCounter.Add(1), 10)
	return base + "-a", base + "-b"
}

// shellDel deletes named namespaces this benchmark made, if they still
// exist; it refuses any name without the benchmark's prefix.
func shellDel(names ...string) {
	for _, name := range names {
		if !strings.HasPrefix(name, ShellPrefix) {
			panic("refusing to delete namespace " + name)
		}
		if _, err := os.Stat("/run/netns/" + name); err == nil {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// ErrShellPing is returned by ShellPair when everything worked except the
// ping (which got no reply within its 1s).
var ErrShellPing = errors.New("shell ping failed")

// ShellPair runs the whole shell sequence once with fresh namespace names.
// Whatever happens, the namespaces are gone when it returns.
func ShellPair() error {
	a, b := shellNames()
	defer shellDel(a, b)
	cmd := exec.Command("sh", "-c", shellScript)
	cmd.Env = append(os.Environ(), "A="+a, "B="+b, "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 100 {
			return fmt.Errorf("%w (ping status %d): %s", ErrShellPing, ee.ExitCode()-100, bytes.TrimSpace(out))
		}
		return fmt.Errorf("shell sequence: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Ping pings from the chain's first host to its last once (the topology
// must have been built with addresses).
func (t *Topo) Ping(timeout time.Duration) error {
	_, err := ping(t.nss[0], t.dst, timeout)
	return err
}

// Routes returns how many routes the build installed.
func (t *Topo) Routes() int { return t.routes }

// RouteTime returns how long installing the routes took, one RTM_NEWROUTE
// request (and its acknowledgement) per route.
func (t *Topo) RouteTime() time.Duration { return t.routeT }
