package nettest

import (
	"fmt"
	"net/netip"
	"strconv"
)

// The default pools of automatic addressing (DESIGN rule 7), used where an
// [Auto] leaves its IPv4Links, IPv4LANs or ULA field zero.
const (
	// DefaultIPv4Links is the pool of /30 subnets for point-to-point links:
	// the lower half of 198.18.0.0/15, RFC 2544's benchmarking range.
	DefaultIPv4Links = "198.18.0.0/16"
	// DefaultIPv4LANs is the pool of /24 (or larger) subnets for LANs: the
	// upper half of the benchmarking range.
	DefaultIPv4LANs = "198.19.0.0/16"
	// DefaultULA is the harness's unique local IPv6 /48 (RFC 4193), chosen
	// at random once: links take /64s from its lower half, LANs from its
	// upper half.
	DefaultULA = "fdf6:fd81:8f7e::/48"
	// DefaultIPv4Loopbacks is the pool of automatic IPv4 loopbacks (/32s,
	// see NodeConfig.AutoLoopback): the last /20 of the benchmarking range,
	// from 198.19.240.1 up. LAN subnets given out automatically skip those
	// taken. Automatic IPv6 loopbacks are /128s of the ULA's last /64, from
	// fdf6:fd81:8f7e:ffff::1 up.
	DefaultIPv4Loopbacks = "198.19.240.0/20"
)

// linkBits returns the length of the automatic IPv4 link subnets.
func (a Auto) linkBits() int {
	if a.IPv4LinkBits == 0 {
		return 30
	}
	return a.IPv4LinkBits
}

// roomHint says how much pool within holds of subnets of that length, and
// how to get more room: which Auto field to widen, and the alternatives.
func roomHint(within netip.Prefix, bits int, lan bool) (holds, hint string) {
	n := "more than 2^62"
	if b := bits - within.Bits(); b < 62 {
		n = strconv.FormatUint(1<<b, 10)
	}
	holds = fmt.Sprintf("it holds %s /%d", n, bits)
	switch {
	case within.Addr().Is6():
		return holds, "give Auto.ULA a shorter prefix (links take /64s from its lower half: a /44 holds 524,288), or give addresses yourself"
	case lan:
		return holds, "give Auto.IPv4LANs a larger pool (e.g. 10.0.0.0/8), or give addresses yourself"
	case bits == 30:
		return holds, "give Auto.IPv4Links a larger pool (e.g. 10.0.0.0/8: 4,194,304 links), use /31 links (Auto.IPv4LinkBits = 31: twice as many), address IPv6 only (Auto{IPv6: true}), or give addresses yourself"
	}
	return holds, "give Auto.IPv4Links a larger pool (e.g. 10.0.0.0/8: 8,388,608 /31 links), address IPv6 only (Auto{IPv6: true}), or give addresses yourself"
}

// autoPools are the prefixes automatic addressing takes subnets from.
type autoPools struct {
	v4Links, v4LANs, v6Links, v6LANs netip.Prefix
	v4Loopbacks, v6Loopbacks         netip.Prefix
}

// pools returns a's pools, the defaults standing in for zero fields, and
// records a problem for each pool that cannot serve (the wrong family, or
// too small for a /30, a /24 or two /64s).
func (a Auto) pools(errs *problems) (autoPools, bool) {
	ok := true
	pick := func(field string, p netip.Prefix, def string, f Family, maxBits int) netip.Prefix {
		if !p.IsValid() {
			return netip.MustParsePrefix(def)
		}
		if FamilyOf(p.Addr()) != f || p.Bits() > maxBits {
			errs.at(at("auto: "+field+" "+p.String()).field("Auto."+field, p), "want an %s prefix of /%d or shorter", f, maxBits)
			ok = false
		}
		return p.Masked()
	}
	var ps autoPools
	linkBits := a.linkBits()
	if linkBits != 30 && linkBits != 31 {
		errs.at(at("auto: IPv4LinkBits").field("Auto.IPv4LinkBits", a.IPv4LinkBits), "want 30 (or 0, the default) or 31 (RFC 3021 point-to-point links), not %d", a.IPv4LinkBits)
		ok, linkBits = false, 30
	}
	ps.v4Links = pick("IPv4Links", a.IPv4Links, DefaultIPv4Links, IPv4, linkBits)
	ps.v4LANs = pick("IPv4LANs", a.IPv4LANs, DefaultIPv4LANs, IPv4, 24)
	ps.v4Loopbacks = pick("IPv4Loopbacks", a.IPv4Loopbacks, DefaultIPv4Loopbacks, IPv4, 30)
	ula := pick("ULA", a.ULA, DefaultULA, IPv6, 63)
	if ok {
		ps.v6Loopbacks = netip.PrefixFrom(lastAddr(ula), 64).Masked()
		// Halves: links below, LANs above.
		ps.v6Links = netip.PrefixFrom(ula.Addr(), ula.Bits()+1)
		ps.v6LANs = netip.PrefixFrom(addPow2(ula.Addr(), 128-ula.Bits()-1), ula.Bits()+1)
	}
	return ps, ok
}
