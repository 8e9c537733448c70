package nettest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Report writes what the kernel holds in every node and switch, compactly:
// interfaces with state and addresses, IPv4 and IPv6 routes of the main
// table, neighbours, and listening sockets. It reads the kernel, not the
// topology, so it shows what a failing test actually met.
func (n *Network) Report(w io.Writer) error {
	var errs []error
	for _, node := range n.nodes {
		if err := node.Report(w); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Report writes the node's part of [Network.Report].
func (n *Node) Report(w io.Writer) error {
	var b strings.Builder
	kind := n.p.kind.String()
	if n.p.isSwitch {
		kind = "switch"
	}
	fmt.Fprintf(&b, "== %s %s\n", kind, n.p.name)
	err := n.net.use("node "+n.p.name, func() error { return n.report(&b) })
	if err != nil {
		fmt.Fprintf(&b, "   (report incomplete: %v)\n", err)
	}
	_, werr := io.WriteString(w, b.String())
	return errors.Join(err, werr)
}

func (n *Node) report(b *strings.Builder) error {
	h := n.ns.nl
	ifaces, err := n.kernelInterfaces()
	if err != nil {
		return err
	}
	names := map[int]string{}
	for _, in := range ifaces {
		names[in.Index] = in.Name
	}
	b.WriteString("   interfaces:\n")
	for _, in := range ifaces {
		line := fmt.Sprintf("%-10s %-7s mtu %-5d %s", in.Name, in.OperState, in.MTU, in.HardwareAddr)
		if in.Master != "" {
			line += " master " + in.Master
		}
		for i, a := range in.Addrs {
			if i == 0 {
				line += " "
			}
			line += " " + a.String()
		}
		fmt.Fprintf(b, "     %s\n", strings.TrimRight(line, " "))
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteList(nil, fam)
		if err != nil {
			return fmt.Errorf("%s: listing routes: %w", n.where(), err)
		}
		var lines []string
		for _, r := range routes {
			if fam == netlink.FAMILY_V6 && r.Dst != nil && r.Dst.IP.IsLinkLocalUnicast() {
				continue // fe80::/64 on every interface
			}
			lines = append(lines, routeLine(r, names))
		}
		fmt.Fprintf(b, "   routes (%s):", map[int]string{netlink.FAMILY_V4: "IPv4", netlink.FAMILY_V6: "IPv6"}[fam])
		writeList(b, lines)
	}
	neighs, err := h.NeighList(0, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("%s: listing neighbours: %w", n.where(), err)
	}
	var lines []string
	for _, ne := range neighs {
		if ne.IP == nil || ne.IP.IsMulticast() || ne.State == netlink.NUD_NOARP {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s dev %s lladdr %s %s", ne.IP, names[ne.LinkIndex], ne.HardwareAddr, neighState(ne.State)))
	}
	b.WriteString("   neighbours:")
	writeList(b, lines)
	if !n.p.isSwitch {
		socks, err := n.listening()
		if err != nil {
			return err
		}
		b.WriteString("   listening:")
		writeList(b, socks)
		// nettest's firewall and NAT rules, when the node has any.
		if rules, err := n.Firewall().Rules(); err == nil && len(rules) > 0 {
			var lines []string
			for _, r := range rules {
				lines = append(lines, r.Chain+": "+r.Text)
			}
			b.WriteString("   firewall:")
			writeList(b, lines)
		}
		// The daemons started in it: each process's state and last lines.
		n.net.mu.Lock()
		daemons := append([]*Daemon(nil), n.daemons...)
		n.net.mu.Unlock()
		if len(daemons) > 0 {
			var lines []string
			for _, d := range daemons {
				lines = append(lines, d.reportLines()...)
			}
			b.WriteString("   daemons:")
			writeList(b, lines)
		}
	}
	return nil
}

func writeList(b *strings.Builder, lines []string) {
	if len(lines) == 0 {
		b.WriteString(" none\n")
		return
	}
	b.WriteString("\n")
	for _, l := range lines {
		fmt.Fprintf(b, "     %s\n", l)
	}
}

func operState(a *netlink.LinkAttrs) string {
	if a.Flags&net.FlagUp == 0 {
		return "DOWN"
	}
	return strings.ToUpper(a.OperState.String())
}

func routeLine(r netlink.Route, names map[int]string) string {
	var s strings.Builder
	if r.Dst == nil || r.Dst.IP == nil {
		s.WriteString("default")
	} else {
		s.WriteString(r.Dst.String())
	}
	if r.Gw != nil {
		s.WriteString(" via " + r.Gw.String())
	}
	if r.LinkIndex != 0 {
		s.WriteString(" dev " + names[r.LinkIndex])
	}
	for _, h := range r.MultiPath {
		fmt.Fprintf(&s, " nexthop via %s dev %s weight %d", h.Gw, names[h.LinkIndex], h.Hops+1)
	}
	if p := RouteProtocol(int(r.Protocol)); p != "boot" && p != "kernel" && p != "0" {
		s.WriteString(" proto " + p)
	}
	if r.Priority != 0 {
		fmt.Fprintf(&s, " metric %d", r.Priority)
	}
	if r.Src != nil {
		s.WriteString(" src " + r.Src.String())
	}
	if r.Flags&unix.RTNH_F_LINKDOWN != 0 {
		s.WriteString(" linkdown")
	}
	return s.String()
}

func neighState(s int) string {
	for _, st := range []struct {
		bit  int
		name string
	}{
		{netlink.NUD_PERMANENT, "PERMANENT"}, {netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"},
		{netlink.NUD_DELAY, "DELAY"}, {netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"},
		{netlink.NUD_INCOMPLETE, "INCOMPLETE"},
	} {
		if s&st.bit != 0 {
			return st.name
		}
	}
	return fmt.Sprintf("state %#x", s)
}

// listening lists the node's listening TCP sockets and bound UDP sockets,
// as "tcp 198.18.0.2:80". Socket diagnostics are asked from inside the node:
// the netlink handle of the node speaks only NETLINK_ROUTE.
func (n *Node) listening() ([]string, error) {
	var out []string
	err := n.ns.do(func() error {
		for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
			tcp, err := netlink.SocketDiagTCP(fam)
			if err != nil {
				return fmt.Errorf("listing TCP sockets: %w", err)
			}
			for _, s := range tcp {
				if s.State == tcpListen {
					out = append(out, "tcp "+hostPort(s.ID.Source, s.ID.SourcePort))
				}
			}
			udp, err := netlink.SocketDiagUDP(fam)
			if err != nil {
				return fmt.Errorf("listing UDP sockets: %w", err)
			}
			for _, s := range udp {
				if s.ID.Destination.IsUnspecified() || s.ID.DestinationPort == 0 {
					out = append(out, "udp "+hostPort(s.ID.Source, s.ID.SourcePort))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.where(), err)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

const tcpListen = 10 // TCP_LISTEN in the kernel's tcp_states.h

func hostPort(ip net.IP, port uint16) string {
	return net.JoinHostPort(ip.String(), fmt.Sprint(port))
}
