package hoststate

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// take snapshots the network namespace ns (Take passes the host's, tests
// pass private ones).
func take(ns netns.NsHandle) (*State, error) {
	s := &State{}
	err := inNamespace(ns, func() error {
		if err := s.readNetlink(ns); err != nil {
			return err
		}
		if err := s.readSysctls(); err != nil {
			return err
		}
		if err := s.readIptables(); err != nil {
			return err
		}
		return s.readNftables(ns)
	})
	if err != nil {
		return nil, err
	}
	if err := s.readNamedNetns(); err != nil {
		return nil, err
	}
	for _, c := range [][]string{s.Links, s.Addrs, s.Routes, s.Rules, s.Sysctls, s.Nftables, s.Iptables, s.NamedNetns} {
		slices.Sort(c)
	}
	return s, nil
}

// dumpRetries bounds the retries of a netlink dump that the kernel
// interrupted because the table changed while it was being read.
const dumpRetries = 10

// dump runs a netlink dump again while the kernel reports it interrupted.
func dump[T any](what string, f func() ([]T, error)) ([]T, error) {
	for i := 0; ; i++ {
		v, err := f()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < dumpRetries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("hoststate: listing %s: %w", what, err)
		}
		return v, nil
	}
}

// readNetlink reads links, addresses, routes and rules through a netlink
// socket opened in ns.
func (s *State) readNetlink(ns netns.NsHandle) error {
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("hoststate: opening a netlink socket in the namespace: %w", err)
	}
	defer h.Close()

	links, err := dump("links", h.LinkList)
	if err != nil {
		return err
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		s.Links = append(s.Links, linkLine(l))
	}
	dev := func(index int) string {
		if n, ok := names[index]; ok {
			return n
		}
		return "if" + strconv.Itoa(index)
	}

	addrs, err := dump("addresses", func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if l, ok := addrLine(a, dev); ok {
			s.Addrs = append(s.Addrs, l)
		}
	}

	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := dump(familyName(fam)+" routes", func() ([]netlink.Route, error) {
			return h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		})
		if err != nil {
			return err
		}
		for _, r := range routes {
			s.Routes = append(s.Routes, routeLine(r, dev))
		}
		rules, err := dump(familyName(fam)+" rules", func() ([]netlink.Rule, error) { return h.RuleList(fam) })
		if err != nil {
			return err
		}
		for _, r := range rules {
			s.Rules = append(s.Rules, ruleLine(r))
		}
	}
	return nil
}

// Interface flags that follow the carrier (operstate), not the configuration.
const volatileLinkFlags = unix.IFF_RUNNING | unix.IFF_LOWER_UP | unix.IFF_DORMANT

var linkFlagNames = []struct {
	bit  uint32
	name string
}{
	{unix.IFF_UP, "UP"}, {unix.IFF_BROADCAST, "BROADCAST"}, {unix.IFF_DEBUG, "DEBUG"},
	{unix.IFF_LOOPBACK, "LOOPBACK"}, {unix.IFF_POINTOPOINT, "POINTOPOINT"},
	{unix.IFF_NOTRAILERS, "NOTRAILERS"}, {unix.IFF_RUNNING, "RUNNING"}, {unix.IFF_NOARP, "NOARP"},
	{unix.IFF_PROMISC, "PROMISC"}, {unix.IFF_ALLMULTI, "ALLMULTI"}, {unix.IFF_MASTER, "MASTER"},
	{unix.IFF_SLAVE, "SLAVE"}, {unix.IFF_MULTICAST, "MULTICAST"}, {unix.IFF_PORTSEL, "PORTSEL"},
	{unix.IFF_AUTOMEDIA, "AUTOMEDIA"}, {unix.IFF_DYNAMIC, "DYNAMIC"}, {unix.IFF_LOWER_UP, "LOWER_UP"},
	{unix.IFF_DORMANT, "DORMANT"}, {unix.IFF_ECHO, "ECHO"},
}

// flagString names the bits of flags, leaving unknown ones in hex.
func flagString(flags uint32) string {
	var out []string
	for _, f := range linkFlagNames {
		if flags&f.bit != 0 {
			out = append(out, f.name)
			flags &^= f.bit
		}
	}
	if flags != 0 {
		out = append(out, fmt.Sprintf("%#x", flags))
	}
	return "<" + strings.Join(out, ",") + ">"
}

// linkLine describes a link by its configuration.
func linkLine(l netlink.Link) string {
	a := l.Attrs()
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s type %s %s mtu %d", a.Index, a.Name, l.Type(), flagString(a.RawFlags&^volatileLinkFlags), a.MTU)
	if len(a.HardwareAddr) > 0 {
		fmt.Fprintf(&b, " mac %s", a.HardwareAddr)
	}
	if a.MasterIndex != 0 {
		fmt.Fprintf(&b, " master %d", a.MasterIndex)
	}
	if a.ParentIndex != 0 {
		fmt.Fprintf(&b, " link %d", a.ParentIndex)
	}
	fmt.Fprintf(&b, " txqlen %d", a.TxQLen)
	if a.Group != 0 {
		fmt.Fprintf(&b, " group %d", a.Group)
	}
	if a.Alias != "" {
		fmt.Fprintf(&b, " alias %q", a.Alias)
	}
	if len(a.AltNames) > 0 {
		alt := slices.Clone(a.AltNames)
		slices.Sort(alt)
		fmt.Fprintf(&b, " altnames %s", strings.Join(alt, ","))
	}
	return b.String()
}

// Address flags that follow lifetimes or duplicate address detection.
const volatileAddrFlags = unix.IFA_F_TENTATIVE | unix.IFA_F_DEPRECATED | unix.IFA_F_OPTIMISTIC

var addrFlagNames = []struct {
	bit  int
	name string
}{
	{unix.IFA_F_SECONDARY, "secondary"}, // temporary for IPv6, which is skipped
	{unix.IFA_F_NODAD, "nodad"}, {unix.IFA_F_OPTIMISTIC, "optimistic"},
	{unix.IFA_F_DADFAILED, "dadfailed"}, {unix.IFA_F_HOMEADDRESS, "home"},
	{unix.IFA_F_DEPRECATED, "deprecated"}, {unix.IFA_F_TENTATIVE, "tentative"},
	{unix.IFA_F_PERMANENT, "permanent"}, {unix.IFA_F_MANAGETEMPADDR, "mngtmpaddr"},
	{unix.IFA_F_NOPREFIXROUTE, "noprefixroute"}, {unix.IFA_F_MCAUTOJOIN, "autojoin"},
	{unix.IFA_F_STABLE_PRIVACY, "stable-privacy"},
}

// addrLine describes an address; ok is false for an IPv6 temporary
// (privacy) address, which the kernel replaces by itself.
func addrLine(a netlink.Addr, dev func(int) string) (line string, ok bool) {
	if a.IPNet == nil {
		return fmt.Sprintf("%s (no address) flags %#x", dev(a.LinkIndex), a.Flags), true
	}
	v4 := a.IP.To4() != nil
	if !v4 && a.Flags&unix.IFA_F_TEMPORARY != 0 {
		return "", false
	}
	var b strings.Builder
	fam := "inet6"
	if v4 {
		fam = "inet"
	}
	fmt.Fprintf(&b, "%s %s %s", dev(a.LinkIndex), fam, a.IPNet)
	if a.Peer != nil {
		fmt.Fprintf(&b, " peer %s", a.Peer)
	}
	if a.Broadcast != nil {
		fmt.Fprintf(&b, " brd %s", a.Broadcast)
	}
	fmt.Fprintf(&b, " scope %s", scopeName(a.Scope))
	if a.Label != "" {
		fmt.Fprintf(&b, " label %s", a.Label)
	}
	flags := a.Flags &^ volatileAddrFlags
	for _, f := range addrFlagNames {
		if flags&f.bit != 0 {
			b.WriteString(" " + f.name)
			flags &^= f.bit
		}
	}
	if flags != 0 {
		fmt.Fprintf(&b, " flags %#x", flags)
	}
	return b.String(), true
}

// scopeName names an address or route scope as ip(8) does.
func scopeName(scope int) string {
	switch scope {
	case unix.RT_SCOPE_UNIVERSE:
		return "global"
	case unix.RT_SCOPE_SITE:
		return "site"
	case unix.RT_SCOPE_LINK:
		return "link"
	case unix.RT_SCOPE_HOST:
		return "host"
	case unix.RT_SCOPE_NOWHERE:
		return "nowhere"
	}
	return strconv.Itoa(scope)
}

func familyName(fam int) string {
	switch fam {
	case netlink.FAMILY_V4:
		return "inet"
	case netlink.FAMILY_V6:
		return "inet6"
	}
	return "family" + strconv.Itoa(fam)
}

func tableName(t int) string {
	switch t {
	case unix.RT_TABLE_MAIN:
		return "main"
	case unix.RT_TABLE_LOCAL:
		return "local"
	case unix.RT_TABLE_DEFAULT:
		return "default"
	}
	return strconv.Itoa(t)
}

var routeTypes = map[int]string{
	unix.RTN_UNSPEC: "unspec", unix.RTN_UNICAST: "unicast", unix.RTN_LOCAL: "local",
	unix.RTN_BROADCAST: "broadcast", unix.RTN_ANYCAST: "anycast", unix.RTN_MULTICAST: "multicast",
	unix.RTN_BLACKHOLE: "blackhole", unix.RTN_UNREACHABLE: "unreachable", unix.RTN_PROHIBIT: "prohibit",
	unix.RTN_THROW: "throw", unix.RTN_NAT: "nat", unix.RTN_XRESOLVE: "xresolve",
}

func routeType(t int) string {
	if n, ok := routeTypes[t]; ok {
		return n
	}
	return "type" + strconv.Itoa(t)
}

// Route and next-hop flags that belong to the configuration; the others
// (dead, linkdown, offload, trap, ...) follow the links' carrier or hardware.
const stableRouteFlags = unix.RTNH_F_ONLINK | unix.RTNH_F_PERVASIVE | unix.RTM_F_PREFIX

// routeLine describes a route by its configuration.
func routeLine(r netlink.Route, dev func(int) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s %s", tableName(r.Table), familyName(r.Family), routeType(r.Type))
	switch {
	case r.MPLSDst != nil:
		fmt.Fprintf(&b, " mpls %d", *r.MPLSDst)
	case r.Dst == nil:
		b.WriteString(" default")
	default:
		fmt.Fprintf(&b, " %s", r.Dst)
	}
	if r.Tos != 0 {
		fmt.Fprintf(&b, " tos %#x", r.Tos)
	}
	fmt.Fprintf(&b, " proto %s scope %s metric %d", r.Protocol, scopeName(int(r.Scope)), r.Priority)
	if r.LinkIndex != 0 {
		fmt.Fprintf(&b, " dev %s", dev(r.LinkIndex))
	}
	if r.ILinkIndex != 0 {
		fmt.Fprintf(&b, " iif %s", dev(r.ILinkIndex))
	}
	if r.Gw != nil {
		fmt.Fprintf(&b, " via %s", r.Gw)
	}
	if r.Via != nil {
		fmt.Fprintf(&b, " via %s", r.Via)
	}
	if r.NewDst != nil {
		fmt.Fprintf(&b, " as %s", r.NewDst)
	}
	if r.Encap != nil {
		fmt.Fprintf(&b, " encap %s", r.Encap)
	}
	if r.Src != nil {
		fmt.Fprintf(&b, " src %s", r.Src)
	}
	if f := r.Flags & stableRouteFlags; f != 0 {
		fmt.Fprintf(&b, " flags %#x", f)
	}
	if r.Realm != 0 {
		fmt.Fprintf(&b, " realm %d", r.Realm)
	}
	for _, m := range []struct {
		name string
		v    int
	}{
		{"mtu", r.MTU}, {"window", r.Window}, {"rtt", r.Rtt}, {"rttvar", r.RttVar},
		{"ssthresh", r.Ssthresh}, {"cwnd", r.Cwnd}, {"advmss", r.AdvMSS},
		{"reordering", r.Reordering}, {"hoplimit", r.Hoplimit}, {"initcwnd", r.InitCwnd},
		{"features", r.Features}, {"rto_min", r.RtoMin}, {"initrwnd", r.InitRwnd},
		{"quickack", r.QuickACK}, {"fastopen_no_cookie", r.FastOpenNoCookie},
	} {
		if m.v != 0 {
			fmt.Fprintf(&b, " %s %d", m.name, m.v)
		}
	}
	if r.MTULock {
		b.WriteString(" lock-mtu")
	}
	if r.RtoMinLock {
		b.WriteString(" lock-rto_min")
	}
	if r.Congctl != "" {
		fmt.Fprintf(&b, " congctl %s", r.Congctl)
	}
	for _, h := range r.MultiPath {
		b.WriteString(" nexthop")
		if h.LinkIndex != 0 {
			fmt.Fprintf(&b, " dev %s", dev(h.LinkIndex))
		}
		if h.Gw != nil {
			fmt.Fprintf(&b, " via %s", h.Gw)
		}
		if h.Via != nil {
			fmt.Fprintf(&b, " via %s", h.Via)
		}
		if h.NewDst != nil {
			fmt.Fprintf(&b, " as %s", h.NewDst)
		}
		if h.Encap != nil {
			fmt.Fprintf(&b, " encap %s", h.Encap)
		}
		fmt.Fprintf(&b, " weight %d", h.Hops+1)
		if f := h.Flags & stableRouteFlags; f != 0 {
			fmt.Fprintf(&b, " flags %#x", f)
		}
	}
	return b.String()
}

// ruleLine describes a policy routing rule. (The netlink library does not
// report a rule's action, so a "lookup" rule and, say, a "prohibit" rule with
// the same selector and priority read the same; rules are still told apart
// by their selector, priority and table.)
func ruleLine(r netlink.Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s prio %d", familyName(r.Family), r.Priority)
	if r.Invert {
		b.WriteString(" not")
	}
	b.WriteString(" from ")
	if r.Src != nil {
		b.WriteString(r.Src.String())
	} else {
		b.WriteString("all")
	}
	if r.Dst != nil {
		fmt.Fprintf(&b, " to %s", r.Dst)
	}
	if r.Tos != 0 {
		fmt.Fprintf(&b, " tos %#x", r.Tos)
	}
	if r.Mark != 0 || r.Mask != nil {
		fmt.Fprintf(&b, " fwmark %#x", r.Mark)
		if r.Mask != nil {
			fmt.Fprintf(&b, "/%#x", *r.Mask)
		}
	}
	if r.IifName != "" {
		fmt.Fprintf(&b, " iif %s", r.IifName)
	}
	if r.OifName != "" {
		fmt.Fprintf(&b, " oif %s", r.OifName)
	}
	if r.TunID != 0 {
		fmt.Fprintf(&b, " tun_id %d", r.TunID)
	}
	if r.IPProto != 0 {
		fmt.Fprintf(&b, " ipproto %d", r.IPProto)
	}
	if r.Sport != nil {
		fmt.Fprintf(&b, " sport %d-%d", r.Sport.Start, r.Sport.End)
	}
	if r.Dport != nil {
		fmt.Fprintf(&b, " dport %d-%d", r.Dport.Start, r.Dport.End)
	}
	if r.UIDRange != nil {
		fmt.Fprintf(&b, " uidrange %d-%d", r.UIDRange.Start, r.UIDRange.End)
	}
	if r.Flow > 0 {
		fmt.Fprintf(&b, " realms %d", r.Flow)
	}
	if r.Goto >= 0 {
		fmt.Fprintf(&b, " goto %d", r.Goto)
	}
	fmt.Fprintf(&b, " lookup %s", tableName(r.Table))
	if r.SuppressPrefixlen >= 0 {
		fmt.Fprintf(&b, " suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	if r.SuppressIfgroup >= 0 {
		fmt.Fprintf(&b, " suppress_ifgroup %d", r.SuppressIfgroup)
	}
	if r.Protocol != 0 {
		fmt.Fprintf(&b, " proto %s", netlink.RouteProtocol(r.Protocol))
	}
	return b.String()
}

// globalSysctls are read when present, relative to /proc/sys.
var globalSysctls = []string{
	"net/ipv4/ip_forward",
	"net/ipv4/ping_group_range",
}

// confSysctls are read for every directory under /proc/sys/net/ipv{4,6}/conf:
// "all", "default" and each interface.
var confSysctls = map[string][]string{
	"net/ipv4/conf": {"forwarding", "rp_filter"},
	"net/ipv6/conf": {"forwarding", "accept_dad", "keep_addr_on_down", "disable_ipv6"},
}

// readSysctls reads the sysctls of the calling thread's network namespace
// (inNamespace has put the thread in the one being read).
func (s *State) readSysctls() error {
	paths := slices.Clone(globalSysctls)
	for dir, keys := range confSysctls {
		entries, err := os.ReadDir(filepath.Join("/proc/sys", dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return fmt.Errorf("hoststate: listing /proc/sys/%s: %w", dir, err)
		}
		for _, e := range entries {
			for _, k := range keys {
				paths = append(paths, dir+"/"+e.Name()+"/"+k)
			}
		}
	}
	for _, p := range paths {
		v, err := os.ReadFile(filepath.Join("/proc/sys", p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("hoststate: reading /proc/sys/%s: %w", p, err)
		}
		s.Sysctls = append(s.Sysctls, sysctlName(p)+" = "+strings.Join(strings.Fields(string(v)), " "))
	}
	return nil
}

// sysctlName turns "net/ipv4/conf/eth0.10/rp_filter" into sysctl(8)'s
// "net.ipv4.conf.eth0/10.rp_filter".
func sysctlName(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, ".", "/")
	}
	return strings.Join(parts, ".")
}

// readIptables reads the legacy x_tables table names registered in the
// calling thread's network namespace.
func (s *State) readIptables() error {
	for _, f := range []string{"ip_tables_names", "ip6_tables_names", "arp_tables_names"} {
		data, err := os.ReadFile("/proc/thread-self/net/" + f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if errors.Is(err, fs.ErrPermission) {
			// Rootless, inside a user namespace: the file belongs to the
			// real root. Record that, the same in every snapshot.
			s.Iptables = append(s.Iptables, f+": (not readable here)")
			continue
		}
		if err != nil {
			return fmt.Errorf("hoststate: reading /proc/net/%s: %w", f, err)
		}
		for _, name := range strings.Fields(string(data)) {
			s.Iptables = append(s.Iptables, f+": "+name)
		}
	}
	return nil
}

// netnsDir holds the bind mounts of named network namespaces (ip netns).
const netnsDir = "/run/netns"

// readNamedNetns lists /run/netns and the mounts under it. A missing
// directory is a valid state: no named namespace.
func (s *State) readNamedNetns() error {
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hoststate: listing %s: %w", netnsDir, err)
	}
	for _, e := range entries {
		s.NamedNetns = append(s.NamedNetns, "entry "+e.Name())
	}
	mounts, err := mountsUnder(netnsDir + "/")
	if err != nil {
		return err
	}
	s.NamedNetns = append(s.NamedNetns, mounts...)
	return nil
}

// mountsUnder lists the mounts of this process's mount namespace whose mount
// point starts with prefix, as "mount POINT ROOT FSTYPE" (for a named
// network namespace the root is "net:[inode]").
func mountsUnder(prefix string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("hoststate: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		point := unescapeMount(fields[4])
		if !strings.HasPrefix(point, prefix) {
			continue
		}
		fstype := "?"
		if i := slices.Index(fields, "-"); i >= 0 && i+1 < len(fields) {
			fstype = fields[i+1]
		}
		out = append(out, fmt.Sprintf("mount %s %s %s", point, unescapeMount(fields[3]), fstype))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("hoststate: reading /proc/self/mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
