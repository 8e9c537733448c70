package hoststate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// State is a snapshot of a network namespace's configuration. Each field is
// one category: a sorted list of lines, each describing one object by its
// stable fields only, so that two snapshots of an untouched namespace are
// equal. The line formats are for people to read; compare States with
// [Diff], not by parsing lines.
type State struct {
	// Links are the interfaces: index, name, kind, administrative flags,
	// MTU, MAC, master and parent indexes, transmit queue length, alias.
	// Operstate and the carrier flags (RUNNING, LOWER_UP, DORMANT) are left
	// out: they follow the cable, not the configuration.
	Links []string
	// Addrs are the addresses of every interface, IPv4 and IPv6: address and
	// prefix, peer, broadcast, scope, label and flags. Lifetimes, and the
	// flags that follow them or DAD (tentative, deprecated, optimistic), are
	// left out; so are IPv6 temporary (privacy) addresses, which the kernel
	// rotates by itself.
	Addrs []string
	// Routes are the routes of every table, IPv4 and IPv6: table, type,
	// destination, TOS, protocol, scope, metric, device, gateway, preferred
	// source, next hops, metrics and encapsulation. Expiry, cached clones and
	// the next-hop flags that follow the carrier (dead, linkdown) are left out.
	Routes []string
	// Rules are the policy routing rules of both families.
	Rules []string
	// Sysctls are forwarding and related settings under /proc/sys/net, as
	// "net.ipv4.ip_forward = 0": the global ones and the per-interface
	// forwarding, rp_filter, accept_dad, keep_addr_on_down and disable_ipv6.
	Sysctls []string
	// Nftables is the nftables ruleset: tables, chains, rules (by table, chain
	// and handle, with their expressions in netlink encoding), sets (with
	// their elements when the set does not change by itself), named objects
	// and flowtables. Counter and quota values are zeroed.
	Nftables []string
	// Iptables are the legacy (x_tables) table names registered in the
	// namespace, from /proc/net/{ip,ip6,arp}_tables_names.
	Iptables []string
	// NamedNetns are the named network namespaces: the entries of /run/netns
	// ("entry NAME"; the directory may be missing, which is no entry) and the
	// mounts under it ("mount /run/netns/NAME net:[INODE] nsfs"); /run/netns
	// itself, which ip-netns(8) makes a shared mount once, is not counted
	// (hence a snapshot is not "changed" by the first ip netns add on a
	// fresh machine beyond the new namespace itself). These belong to the
	// process's mount namespace and file system, not to the network
	// namespace snapshotted.
	NamedNetns []string
}

type category struct {
	name  string
	lines []string
}

func (s *State) categories() []category {
	if s == nil {
		s = &State{}
	}
	return []category{
		{"links", s.Links},
		{"addresses", s.Addrs},
		{"routes", s.Routes},
		{"rules", s.Rules},
		{"sysctls", s.Sysctls},
		{"nftables", s.Nftables},
		{"iptables", s.Iptables},
		{"named netns", s.NamedNetns},
	}
}

// Take snapshots the host's network namespace: the one the process was in
// when it started (see [ThreadsOutside]), whatever namespace the calling
// thread, or the process's main thread, is in now. It needs the privilege
// to join that namespace (CAP_SYS_ADMIN) and changes nothing.
func Take() (*State, error) {
	if host.err != nil {
		return nil, host.err
	}
	return take(host.ns)
}

// String returns the whole snapshot, one category after the other, each
// headed by its name and line count.
func (s *State) String() string {
	var b strings.Builder
	for _, c := range s.categories() {
		fmt.Fprintf(&b, "%s (%d):\n", c.name, len(c.lines))
		for _, l := range c.lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	return b.String()
}

// Diff compares two snapshots. It returns "" when they are equal;
// otherwise, for each category that changed, a header line with the counts
// and then one line per object: "- " for what is in before only, "+ " for
// what is in after only. An object whose stable fields changed shows as
// removed and added. A nil State counts as empty.
func Diff(before, after *State) string {
	var b strings.Builder
	bc, ac := before.categories(), after.categories()
	for i := range bc {
		removed, added := diffLines(bc[i].lines, ac[i].lines)
		if len(removed) == 0 && len(added) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s: %d removed, %d added\n", bc[i].name, len(removed), len(added))
		for _, l := range removed {
			fmt.Fprintf(&b, "  - %s\n", l)
		}
		for _, l := range added {
			fmt.Fprintf(&b, "  + %s\n", l)
		}
	}
	return b.String()
}

// diffLines returns the lines of a missing from b and those of b missing
// from a, counting duplicates, each in sorted order.
func diffLines(a, b []string) (onlyA, onlyB []string) {
	count := map[string]int{}
	for _, l := range a {
		count[l]++
	}
	for _, l := range b {
		count[l]--
	}
	for l, n := range count {
		for ; n > 0; n-- {
			onlyA = append(onlyA, l)
		}
		for ; n < 0; n++ {
			onlyB = append(onlyB, l)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return onlyA, onlyB
}

// Check takes a snapshot of the host's network namespace now (failing the
// test if it cannot) and returns a function to call at the end of the test,
// after every topology is closed. That function takes a second snapshot and
// reports with t.Errorf any difference, and any thread of the process left
// outside the host's namespace (see [ThreadsOutside]).
//
// Other processes on the machine may change the host's state meanwhile (a
// named namespace made by another test, a DHCP lease renewed with other
// values); the report then names what changed, so it can be told apart.
func Check(t testing.TB) func() {
	t.Helper()
	before, err := Take()
	if err != nil {
		t.Fatalf("hoststate: snapshot before the test: %v", err)
	}
	return func() {
		t.Helper()
		after, err := Take()
		if err != nil {
			t.Errorf("hoststate: snapshot after the test: %v", err)
		} else if d := Diff(before, after); d != "" {
			t.Errorf("hoststate: the host's network state changed during the test:\n%s", d)
		}
		threads, err := ThreadsOutside()
		if err != nil {
			t.Errorf("hoststate: %v", err)
		} else if len(threads) > 0 {
			t.Errorf("hoststate: threads left outside the host's network namespace (tid: namespace):\n  %s",
				strings.Join(threads, "\n  "))
		}
	}
}
