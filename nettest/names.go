package nettest

import (
	"fmt"
	"hash/fnv"
	"net"
	"strings"
)

// maxIfaceName is IFNAMSIZ-1: the longest interface name the kernel takes.
const maxIfaceName = 15

// checkName reports what is wrong with a node, LAN or topology name, or "".
func checkName(s string, max int) string {
	if s == "" {
		return "empty name"
	}
	if len(s) > max {
		return fmt.Sprintf("name %q is %d bytes long, more than %d", s, len(s), max)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_'))
		if !ok {
			return fmt.Sprintf("name %q: character %q not allowed (use letters, digits, '-' and '_', starting with a letter or digit)", s, c)
		}
	}
	return ""
}

// checkIfaceName reports what is wrong with an interface name, or "".
func checkIfaceName(s string) string {
	switch {
	case s == "":
		return "empty interface name"
	case len(s) > maxIfaceName:
		return fmt.Sprintf("interface name %q is %d bytes long; Linux allows at most %d", s, len(s), maxIfaceName)
	case s == "." || s == "..":
		return fmt.Sprintf("interface name %q is not allowed", s)
	case s == "lo":
		return `interface name "lo" is the node's loopback, which exists already`
	case s == "all" || s == "default":
		return fmt.Sprintf("interface name %q would clash with /proc/sys/net/*/conf/%s", s, s)
	}
	for _, c := range s {
		if c == '/' || c == ':' || c <= ' ' || c == 0x7f || c > 0x7e {
			return fmt.Sprintf("interface name %q: character %q not allowed", s, c)
		}
	}
	return ""
}

// derivedMAC returns a locally administered unicast MAC address that depends
// only on the given name, so that the same topology shows the same MACs on
// every run.
func derivedMAC(name string) net.HardwareAddr {
	h := fnv.New64a()
	h.Write([]byte(name))
	s := h.Sum64()
	mac := make(net.HardwareAddr, 6)
	for i := range mac {
		mac[i] = byte(s >> (8 * i))
	}
	mac[0] = mac[0]&^0x01 | 0x02 // unicast, locally administered
	return mac
}

// sysctlPath turns "net.ipv4.conf.eth0/1.rp_filter" into the file under
// /proc/sys that holds it, or returns what is wrong with the key.
func sysctlPath(key string) (string, string) {
	if !strings.HasPrefix(key, "net.") {
		return "", fmt.Sprintf("sysctl %q is not under net.: only per-namespace net.* sysctls can be set in a node", key)
	}
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if p == "" || p == ".." {
			return "", fmt.Sprintf("sysctl %q is malformed", key)
		}
		for _, c := range p {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '/'
			if !ok {
				return "", fmt.Sprintf("sysctl %q: character %q not allowed", key, c)
			}
		}
		parts[i] = strings.ReplaceAll(p, "/", ".") // sysctl(8) writes eth0.100 as eth0/100
	}
	return "/proc/sys/" + strings.Join(parts, "/"), ""
}

// CheckTopologyName returns an error when name cannot name a topology:
// empty, longer than 32 bytes, or holding anything but letters, digits,
// '-' and '_' (starting with a letter or digit). Such a name can never
// lead out of a folder when used as a file name.
func CheckTopologyName(name string) error {
	if msg := checkName(name, 32); msg != "" {
		return fmt.Errorf("topology %s", msg)
	}
	return nil
}
