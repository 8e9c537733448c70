package nftrules

import (
	"fmt"
	"strings"
)

// Address families, as nettest numbers them: 0 is both.
const (
	IPv4 = 4
	IPv6 = 6
)

// ICMPFamily returns the family of an ICMP protocol ("icmp": IPv4,
// "icmpv6": IPv6), and 0 for any other protocol.
func ICMPFamily(proto string) int {
	switch proto {
	case "icmp":
		return IPv4
	case "icmpv6":
		return IPv6
	}
	return 0
}

// icmpTypes are the ICMP and ICMPv6 message types by the names nftables
// gives them.
var icmpTypes = map[int][]struct {
	name string
	typ  uint8
}{
	IPv4: {
		{"echo-reply", 0}, {"destination-unreachable", 3}, {"source-quench", 4}, {"redirect", 5},
		{"echo-request", 8}, {"router-advertisement", 9}, {"router-solicitation", 10},
		{"time-exceeded", 11}, {"parameter-problem", 12}, {"timestamp-request", 13}, {"timestamp-reply", 14},
	},
	IPv6: {
		{"destination-unreachable", 1}, {"packet-too-big", 2}, {"time-exceeded", 3}, {"parameter-problem", 4},
		{"echo-request", 128}, {"echo-reply", 129}, {"mld-listener-query", 130}, {"mld-listener-report", 131},
		{"mld-listener-done", 132}, {"nd-router-solicit", 133}, {"nd-router-advert", 134},
		{"nd-neighbor-solicit", 135}, {"nd-neighbor-advert", 136}, {"nd-redirect", 137}, {"mld2-listener-report", 143},
	},
}

// ICMPTypeNumber returns the type number of an ICMP (family IPv4) or
// ICMPv6 (family IPv6) message named as nftables names it. The error lists
// the names it knows.
func ICMPTypeNumber(family int, name string) (uint8, error) {
	var names []string
	for _, t := range icmpTypes[family] {
		if t.name == name {
			return t.typ, nil
		}
		names = append(names, t.name)
	}
	proto := "icmp"
	if family == IPv6 {
		proto = "icmpv6"
	}
	return 0, fmt.Errorf("%q is no %s type nettest knows (it knows %s)", name, proto, strings.Join(names, ", "))
}

// ICMPTypeName returns the nftables name of an ICMP (family IPv4) or
// ICMPv6 (family IPv6) message type, or "type N" for one it does not name.
func ICMPTypeName(family int, typ uint8) string {
	for _, t := range icmpTypes[family] {
		if t.typ == typ {
			return t.name
		}
	}
	return fmt.Sprintf("type %d", typ)
}
