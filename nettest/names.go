package nettest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
	"strings"
)

// maxIfaceName is IFNAMSIZ-1: the longest interface name the kernel takes.
const maxIfaceName = 15

// checkName reports what is wrong with a node, LAN or topology name, or nil.
func checkName(s string, max int) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) > max {
		return fmt.Errorf("name %q is %d bytes long, more than %d", s, len(s), max)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_'))
		if !ok {
			return fmt.Errorf("name %q: character %q not allowed (use letters, digits, '-' and '_', starting with a letter or digit)", s, c)
		}
	}
	return nil
}

// checkIfaceName reports what is wrong with an interface name, or nil.
func checkIfaceName(s string) error {
	switch {
	case s == "":
		return errors.New("empty interface name")
	case len(s) > maxIfaceName:
		return fmt.Errorf("interface name %q is %d bytes long; Linux allows at most %d", s, len(s), maxIfaceName)
	case s == "." || s == "..":
		return fmt.Errorf("interface name %q is not allowed", s)
	case s == "lo":
		return errors.New(`interface name "lo" is the node's loopback, which exists already`)
	case s == "all" || s == "default":
		return fmt.Errorf("interface name %q would clash with /proc/sys/net/*/conf/%s", s, s)
	}
	for _, c := range s {
		if c == '/' || c == ':' || c <= ' ' || c == 0x7f || c > 0x7e {
			return fmt.Errorf("interface name %q: character %q not allowed", s, c)
		}
	}
	return nil
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
func sysctlPath(key string) (string, error) {
	if !strings.HasPrefix(key, "net.") {
		return "", fmt.Errorf("sysctl %q is not under net.: only per-namespace net.* sysctls can be set in a node", key)
	}
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if p == "" || p == ".." {
			return "", fmt.Errorf("sysctl %q is malformed", key)
		}
		for _, c := range p {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '/'
			if !ok {
				return "", fmt.Errorf("sysctl %q: character %q not allowed", key, c)
			}
		}
		parts[i] = strings.ReplaceAll(p, "/", ".") // sysctl(8) writes eth0.100 as eth0/100
	}
	return "/proc/sys/" + strings.Join(parts, "/"), nil
}

// CheckTopologyName returns an error when name cannot name a topology:
// empty, longer than 32 bytes, or holding anything but letters, digits,
// '-' and '_' (starting with a letter or digit). Such a name can never
// lead out of a folder when used as a file name.
func CheckTopologyName(name string) error {
	if err := checkName(name, 32); err != nil {
		return fmt.Errorf("topology %w", err)
	}
	return nil
}

// nodeNames lists the topology's node names for a message, each once, at
// most maxListed of them.
func nodeNames(t Topology) string {
	var names []string
	seen := map[string]bool{}
	for _, n := range t.Nodes {
		if !seen[n.Name] {
			seen[n.Name] = true
			names = append(names, n.Name)
		}
	}
	return listNames(names)
}

// maxListed is how many names a message lists before it says how many more
// there are.
const maxListed = 10

// listNames joins names for a message ("a, b, c"), the first few of a long
// list only: "a, b, ... (20000 in all)".
func listNames(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxListed], ", ") + ", ... (" + strconv.Itoa(len(names)) + " in all)"
}

// linkNamer names links the user left unnamed: "a-b", then "a-b-2",
// "a-b-3" ..., the lowest number free, in constant time per link however
// many links join the same two nodes.
type linkNamer struct {
	taken map[string]bool
	next  map[string]int // base name -> the lowest number that may be free
}

func newLinkNamer() *linkNamer {
	return &linkNamer{taken: map[string]bool{}, next: map[string]int{}}
}

// generate returns the first free name of base, base-2, base-3 ...; it
// does not mark it taken. Names are only ever added to taken, so numbers
// below next[base] stay taken and need no second look.
func (n *linkNamer) generate(base string) string {
	if !n.taken[base] {
		return base
	}
	k := max(n.next[base], 2)
	for n.taken[base+"-"+strconv.Itoa(k)] {
		k++
	}
	n.next[base] = k
	return base + "-" + strconv.Itoa(k)
}
