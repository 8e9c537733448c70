package nettest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Report writes what the kernel holds in every node and switch, compactly:
// interfaces with state and addresses (lo's loopback addresses included),
// IPv4 and IPv6 routes of the main table and of every other table that
// has any, policy rules besides the kernel's own, neighbours, and
// listening sockets. It reads the kernel, not the
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
	if err := n.reportPolicy(b, names); err != nil {
		return err
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

// reportPolicy writes the node's routing tables other than main and local,
// and its policy rules other than the kernel's own, when it has any.
func (n *Node) reportPolicy(b *strings.Builder, names map[int]string) error {
	h := n.ns.nl
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return fmt.Errorf("%s: listing routes of every table: %w", n.where(), err)
		}
		byTable := map[int][]string{}
		for _, r := range routes {
			if r.Table == unix.RT_TABLE_MAIN || r.Table == unix.RT_TABLE_LOCAL || r.Table == unix.RT_TABLE_UNSPEC {
				continue
			}
			if fam == netlink.FAMILY_V6 && r.Dst != nil && r.Dst.IP.IsLinkLocalUnicast() {
				continue
			}
			byTable[r.Table] = append(byTable[r.Table], routeLine(r, names))
		}
		for _, t := range slices.Sorted(maps.Keys(byTable)) {
			fmt.Fprintf(b, "   routes (%s, table %s):", map[int]string{netlink.FAMILY_V4: "IPv4", netlink.FAMILY_V6: "IPv6"}[fam], tableName(t))
			writeList(b, byTable[t])
		}
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := h.RuleList(fam)
		if err != nil {
			return fmt.Errorf("%s: listing policy rules: %w", n.where(), err)
		}
		var lines []string
		for _, r := range rules {
			if (r.Priority == 0 || r.Priority == 32766 || r.Priority == 32767) &&
				(r.Table == unix.RT_TABLE_LOCAL || r.Table == unix.RT_TABLE_MAIN || r.Table == unix.RT_TABLE_DEFAULT) {
				continue // the kernel's own: 0 local, 32766 main, 32767 default (main for IPv6)
			}
			lines = append(lines, ruleLine(r))
		}
		if len(lines) > 0 {
			fmt.Fprintf(b, "   rules (%s):", map[int]string{netlink.FAMILY_V4: "IPv4", netlink.FAMILY_V6: "IPv6"}[fam])
			writeList(b, lines)
		}
	}
	return nil
}

// ruleLine formats a policy rule as ip-rule(8) lists it:
// "1000: from 198.18.0.1 lookup 100".
func ruleLine(r netlink.Rule) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%d:", r.Priority)
	if r.Invert {
		s.WriteString(" not")
	}
	host := func(n *net.IPNet) string {
		if ones, bits := n.Mask.Size(); ones == bits {
			return n.IP.String()
		}
		return n.String()
	}
	if r.Src != nil {
		s.WriteString(" from " + host(r.Src))
	} else {
		s.WriteString(" from all")
	}
	if r.Dst != nil {
		s.WriteString(" to " + host(r.Dst))
	}
	if r.Mark != 0 || r.Mask != nil {
		fmt.Fprintf(&s, " fwmark %#x", r.Mark)
		if r.Mask != nil {
			fmt.Fprintf(&s, "/%#x", *r.Mask)
		}
	}
	if r.IifName != "" {
		s.WriteString(" iif " + r.IifName)
	}
	if r.OifName != "" {
		s.WriteString(" oif " + r.OifName)
	}
	s.WriteString(" lookup " + tableName(r.Table))
	return s.String()
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
