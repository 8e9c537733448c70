package assertions

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nettestlab/nettest/nettest"
)

// Match says which frames of a capture a check counts. Every field set must
// match; the zero Match matches every frame.
type Match struct {
	// Proto is "tcp", "udp", "icmp", "icmpv6" or "arp"; "" matches any.
	Proto string
	// Src and Dst match the IP source and destination address: a prefix,
	// or an address as a /32 or /128. A frame without an IP header (ARP)
	// matches neither, unless Proto is "arp": then they match the ARP
	// sender's and target's addresses.
	Src, Dst netip.Prefix
	// SrcPort and DstPort match a TCP or UDP port; 0 matches any.
	SrcPort, DstPort int
	// ICMP matches an ICMP or ICMPv6 message type by its nftables name:
	// "echo-request", "echo-reply", "destination-unreachable",
	// "nd-neighbor-solicit", ... (see [nettest.ICMPTypeNumber]).
	ICMP string
	// Direction is "in" (frames the node received on the interface), "out"
	// (frames it sent) or "" for both.
	Direction string
}

// String says what the Match matches, in the words of the failure
// messages: "tcp dport 22", "icmp echo-reply", "out from 10.0.0.0/24",
// "every frame".
func (m Match) String() string {
	var parts []string
	if m.Direction != "" {
		parts = append(parts, m.Direction)
	}
	switch {
	case m.ICMP != "" && m.Proto == "":
		parts = append(parts, "icmp "+m.ICMP)
	case m.ICMP != "":
		parts = append(parts, m.Proto+" "+m.ICMP)
	case m.Proto != "":
		parts = append(parts, m.Proto)
	}
	if m.Src.IsValid() {
		parts = append(parts, "from "+prefixText(m.Src))
	}
	if m.Dst.IsValid() {
		parts = append(parts, "to "+prefixText(m.Dst))
	}
	if m.SrcPort != 0 {
		parts = append(parts, fmt.Sprintf("sport %d", m.SrcPort))
	}
	if m.DstPort != 0 {
		parts = append(parts, fmt.Sprintf("dport %d", m.DstPort))
	}
	if len(parts) == 0 {
		return "every frame"
	}
	return strings.Join(parts, " ")
}

func prefixText(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// validate reports what is wrong with the Match.
func (m Match) validate() error {
	var errs []string
	if !slices.Contains([]string{"", "tcp", "udp", "icmp", "icmpv6", "arp"}, m.Proto) {
		errs = append(errs, fmt.Sprintf("Proto %q: want tcp, udp, icmp, icmpv6, arp or empty (any)", m.Proto))
	}
	for _, port := range []struct {
		field string
		v     int
	}{{"SrcPort", m.SrcPort}, {"DstPort", m.DstPort}} {
		switch {
		case port.v < 0 || port.v > 65535:
			errs = append(errs, fmt.Sprintf("%s %d: want 1 to 65535 (0: any)", port.field, port.v))
		case port.v != 0 && m.Proto != "" && m.Proto != "tcp" && m.Proto != "udp":
			errs = append(errs, fmt.Sprintf("%s %d: ports need Proto tcp, udp or empty (it is %q)", port.field, port.v, m.Proto))
		}
	}
	if m.ICMP != "" {
		_, err4 := nettest.ICMPTypeNumber(nettest.IPv4, m.ICMP)
		_, err6 := nettest.ICMPTypeNumber(nettest.IPv6, m.ICMP)
		switch {
		case m.Proto != "" && m.Proto != "icmp" && m.Proto != "icmpv6":
			errs = append(errs, fmt.Sprintf("ICMP %q: needs Proto icmp, icmpv6 or empty (it is %q)", m.ICMP, m.Proto))
		case m.Proto == "icmp" && err4 != nil:
			errs = append(errs, "ICMP: "+err4.Error())
		case m.Proto == "icmpv6" && err6 != nil:
			errs = append(errs, "ICMP: "+err6.Error())
		case err4 != nil && err6 != nil:
			errs = append(errs, fmt.Sprintf("ICMP %q: no ICMP or ICMPv6 type of that name (%v)", m.ICMP, err4))
		}
	}
	if m.Direction != "" && m.Direction != "in" && m.Direction != "out" {
		errs = append(errs, fmt.Sprintf("Direction %q: want in, out or empty (both)", m.Direction))
	}
	if len(errs) > 0 {
		return fmt.Errorf("match %s: %s", m, strings.Join(errs, "; "))
	}
	return nil
}

// SawPacket checks that at least one frame of the capture c matches m:
// "at least one ICMP echo reply on h2:eth0". It takes the frames the
// kernel has handed to the capture so far, running or stopped. Options:
// [IPv4], [IPv6] (consider only the frames of that family: no ARP, no
// IPv6 neighbour discovery), [Within], [Every].
// The failure says what the capture holds:
//
//	capture h2:eth0: 0 of 4 frames match icmp echo-reply, want at least one; it has 2 icmp echo-request, 2 arp:
//	  in 198.18.0.1 > 198.18.0.2 icmp echo-request id 7 seq 1
func SawPacket(t TestingT, c *nettest.Capture, m Match, opts ...PacketOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return checkCapture(t, "SawPacket", c, m, opts, true)
}

// NoPacket checks that no frame of the capture c matches m: "no packet to
// TCP port 22 crossed r1:eth1". A capture whose socket dropped frames
// proves nothing and fails the check. Options are those of [SawPacket].
// The failure lists the frames that match:
//
//	capture r1:eth1: 1 of 9 frames match tcp dport 22, want none:
//	  out 198.18.0.1:41000 > 198.18.0.6:22 tcp SYN
func NoPacket(t TestingT, c *nettest.Capture, m Match, opts ...PacketOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return checkCapture(t, "NoPacket", c, m, opts, false)
}

// sampleSize is how many frames a failure lists.
const sampleSize = 5

func checkCapture(t TestingT, name string, c *nettest.Capture, m Match, opts []PacketOption, saw bool) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	cfg, err := newConfig(name, options(opts, PacketOption.packetOption))
	if err != nil {
		return report(t, err.Error())
	}
	if c == nil {
		return report(t, "assertions."+name+": the capture is nil")
	}
	if err := m.validate(); err != nil {
		return report(t, fmt.Sprintf("capture %s: %v", c, err))
	}
	return report(t, run(cfg, func() ([]finding, error) {
		pkts, err := c.Packets()
		if err != nil {
			return nil, err
		}
		var matched, others []frame
		for _, p := range pkts {
			f := decode(p)
			switch {
			case len(cfg.families) > 0 && !slices.Contains(cfg.families, f.family):
			case m.matches(f):
				matched = append(matched, f)
			default:
				others = append(others, f)
			}
		}
		fd := finding{subject: "capture " + c.String(), seen: fmt.Sprintf("%d of %d frames match %s", len(matched), len(matched)+len(others), m)}
		if saw {
			fd.ok, fd.want = len(matched) > 0, "at least one"
			fd.note = "; " + tally(others) + sample(others)
			return []finding{fd}, nil
		}
		fd.ok, fd.want = len(matched) == 0, "none"
		if dropped := c.Dropped(); dropped > 0 {
			fd.ok = false
			fd.note = fmt.Sprintf("; the capture dropped %d frames, so it cannot prove none crossed", dropped)
		}
		fd.note += sample(matched)
		return []finding{fd}, nil
	}))
}

// frame is what the checks know of a captured frame.
type frame struct {
	out          bool
	family       nettest.Family // 0: not IP
	proto        string         // tcp, udp, icmp, icmpv6, arp, or "" for another
	src, dst     netip.Addr
	sport, dport int
	icmp         string // the ICMP type's name
	text         string // one line, as tcpdump would say it
}

// decode reads what the checks match on from a frame.
func decode(p nettest.Packet) frame {
	f := frame{out: p.Outgoing}
	g := gopacket.NewPacket(p.Data, p.LinkType, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var what string
	switch ip := g.NetworkLayer().(type) {
	case *layers.IPv4:
		f.family, f.src, f.dst = nettest.IPv4, addrOf(ip.SrcIP), addrOf(ip.DstIP)
		what = fmt.Sprintf("ip proto %d", ip.Protocol)
	case *layers.IPv6:
		f.family, f.src, f.dst = nettest.IPv6, addrOf(ip.SrcIP), addrOf(ip.DstIP)
		what = fmt.Sprintf("ip6 next header %d", ip.NextHeader)
	}
	if arp, ok := g.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		f.proto, f.src, f.dst = "arp", addrOf(arp.SourceProtAddress), addrOf(arp.DstProtAddress)
		if arp.Operation == layers.ARPRequest {
			f.text = fmt.Sprintf("arp who-has %s tell %s", f.dst, f.src)
		} else {
			f.text = fmt.Sprintf("arp reply %s is-at %x", f.src, arp.SourceHwAddress)
		}
	}
	ends := fmt.Sprintf("%s > %s", f.src, f.dst)
	switch {
	case g.Layer(layers.LayerTypeTCP) != nil:
		tcp := g.Layer(layers.LayerTypeTCP).(*layers.TCP)
		f.proto, f.sport, f.dport = "tcp", int(tcp.SrcPort), int(tcp.DstPort)
		what = "tcp " + tcpFlags(tcp)
	case g.Layer(layers.LayerTypeUDP) != nil:
		udp := g.Layer(layers.LayerTypeUDP).(*layers.UDP)
		f.proto, f.sport, f.dport = "udp", int(udp.SrcPort), int(udp.DstPort)
		what = fmt.Sprintf("udp length %d", len(udp.Payload))
	case g.Layer(layers.LayerTypeICMPv4) != nil:
		icmp := g.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		f.proto, f.icmp = "icmp", nettest.ICMPTypeName(nettest.IPv4, icmp.TypeCode.Type())
		what = "icmp " + f.icmp
		if t := icmp.TypeCode.Type(); t == layers.ICMPv4TypeEchoRequest || t == layers.ICMPv4TypeEchoReply {
			what += fmt.Sprintf(" id %d seq %d", icmp.Id, icmp.Seq)
		}
	case g.Layer(layers.LayerTypeICMPv6) != nil:
		icmp := g.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		f.proto, f.icmp = "icmpv6", nettest.ICMPTypeName(nettest.IPv6, icmp.TypeCode.Type())
		what = "icmpv6 " + f.icmp
	}
	if f.sport != 0 || f.dport != 0 {
		ends = fmt.Sprintf("%s > %s", netip.AddrPortFrom(f.src, uint16(f.sport)), netip.AddrPortFrom(f.dst, uint16(f.dport)))
	}
	switch {
	case f.text != "":
	case f.family == 0:
		f.text = "non-IP frame"
		if eth, ok := g.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
			f.text = fmt.Sprintf("ethertype 0x%04x, %d bytes", uint16(eth.EthernetType), p.Length)
		}
	default:
		f.text = ends + " " + what
	}
	dir := "in "
	if f.out {
		dir = "out "
	}
	f.text = dir + f.text
	return f
}

func addrOf(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap()
}

// tcpFlags writes a segment's flags as "SYN", "SYN ACK", "ACK PSH".
func tcpFlags(t *layers.TCP) string {
	var fs []string
	for _, f := range []struct {
		on   bool
		name string
	}{{t.SYN, "SYN"}, {t.FIN, "FIN"}, {t.RST, "RST"}, {t.PSH, "PSH"}, {t.ACK, "ACK"}} {
		if f.on {
			fs = append(fs, f.name)
		}
	}
	return strings.Join(fs, " ")
}

// matches says whether the frame matches.
func (m Match) matches(f frame) bool {
	switch {
	case m.Direction == "in" && f.out, m.Direction == "out" && !f.out:
		return false
	case m.Proto != "" && m.Proto != f.proto:
		return false
	case m.ICMP != "" && (m.ICMP != f.icmp || f.proto != "icmp" && f.proto != "icmpv6"):
		return false
	case m.SrcPort != 0 && (m.SrcPort != f.sport || f.proto != "tcp" && f.proto != "udp"):
		return false
	case m.DstPort != 0 && (m.DstPort != f.dport || f.proto != "tcp" && f.proto != "udp"):
		return false
	}
	for _, a := range []struct {
		p netip.Prefix
		v netip.Addr
	}{{m.Src, f.src}, {m.Dst, f.dst}} {
		if !a.p.IsValid() {
			continue
		}
		if f.family == 0 && m.Proto != "arp" || !a.v.IsValid() || !a.p.Contains(a.v) {
			return false
		}
	}
	return true
}

// tally counts frames by kind: "it has 2 icmp echo-request, 1 arp".
func tally(fs []frame) string {
	if len(fs) == 0 {
		return "the capture has no other frame"
	}
	count := map[string]int{}
	for _, f := range fs {
		k := f.proto
		switch {
		case f.icmp != "":
			k += " " + f.icmp
		case k == "" && f.family != 0:
			k = "other " + f.family.String()
		case k == "":
			k = "non-IP"
		}
		count[k]++
	}
	kinds := slices.Collect(maps.Keys(count))
	slices.SortFunc(kinds, func(a, b string) int { return cmp.Or(count[b]-count[a], strings.Compare(a, b)) })
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", count[k], k))
	}
	return "it has " + strings.Join(parts, ", ")
}

// sample lists the first frames, one per line.
func sample(fs []frame) string {
	if len(fs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(":")
	for _, f := range fs[:min(len(fs), sampleSize)] {
		b.WriteString("\n  " + f.text)
	}
	if len(fs) > sampleSize {
		fmt.Fprintf(&b, "\n  ... and %d more", len(fs)-sampleSize)
	}
	return b.String()
}
