package scenario

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// sysctlAt is a node's sysctl and where it is written.
type sysctlAt struct {
	node, key, value string
	path             string // its file under /proc/sys
	at               keyAt
}

// sysctlLookup looks a sysctl's file up: whether it exists and its value
// now ("" when it cannot be read); known is false when it cannot tell.
type sysctlLookup func(path string) (value string, exists, known bool)

// hostSysctl looks a sysctl up on this machine, reading only. A node's
// namespace has the per-namespace net.* sysctls this machine has (its own
// has a few more, which Scenario.CheckKernel finds out). It cannot tell
// without /proc/sys/net, nor for IPv6 keys when IPv6 is off (the engine
// skips those).
func hostSysctl(path string) (string, bool, bool) {
	if _, err := os.Stat("/proc/sys/net"); err != nil {
		return "", false, false
	}
	if strings.HasPrefix(path, "/proc/sys/net/ipv6/") {
		if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
			return "", false, false
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() {
		return "", false, true
	}
	data, _ := os.ReadFile(path)
	return string(data), true, true
}

// sysctlFile is the file under /proc/sys that holds a net.* sysctl, as the
// engine finds it; ok is false for keys the engine refuses (it says why).
func sysctlFile(key string) (string, bool) {
	if !strings.HasPrefix(key, "net.") {
		return "", false
	}
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if p == "" || p == ".." || strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/") != "" {
			return "", false
		}
		parts[i] = strings.ReplaceAll(p, "/", ".") // sysctl(8) writes eth0.100 as eth0/100
	}
	return "/proc/sys/" + strings.Join(parts, "/"), true
}

// ifaceSysctl splits the file of an interface's sysctl
// (/proc/sys/net/ipv4/conf/eth0/forwarding) into the interface and the
// same key of the namespace's defaults, which every namespace has.
func ifaceSysctl(path string) (iface, dflt string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/proc/sys/"), "/")
	if len(parts) != 5 || parts[0] != "net" || parts[1] != "ipv4" && parts[1] != "ipv6" || parts[2] != "conf" && parts[2] != "neigh" {
		return "", "", false
	}
	iface = parts[3]
	parts[3] = "default"
	return iface, "/proc/sys/" + strings.Join(parts, "/"), true
}

// checkSysctls checks each node's sysctls before anything is built: that
// an interface's key names an interface of the node, that the key exists
// (lookup says) and that a number's value is a number.
func (s *Scenario) checkSysctls(l *errList, lookup sysctlLookup) {
	seen := map[string]bool{}
	for i, n := range s.Spec.Topology.Nodes {
		if seen[n.Name.V] || len(n.Sysctls) == 0 {
			continue
		}
		seen[n.Name.V] = true
		for _, key := range slices.Sorted(maps.Keys(n.Sysctls)) {
			path, ok := sysctlFile(key)
			if !ok {
				continue // the engine says why
			}
			sc := sysctlAt{node: n.Name.V, key: key, value: n.Sysctls[key], path: path, at: s.mapKeys[fmt.Sprintf("topology.nodes[%d].sysctls.%s", i, key)]}
			s.sysctls = append(s.sysctls, sc)
			look := path
			if iface, dflt, ok := ifaceSysctl(path); ok {
				if ni := s.ifaces[n.Name.V]; iface != "all" && iface != "default" && ni != nil {
					if _, has := ni.seg(iface); !has {
						l.add(sc.at.key, "node %s: sysctl %s: node %s has no interface %q (it has %s)", n.Name.V, key, n.Name.V, iface, listNames(ni.names))
						continue
					}
				}
				look = dflt
			}
			now, exists, known := lookup(look)
			switch {
			case !known:
			case !exists:
				l.add(sc.at.key, "node %s: sysctl %s: no such key in this kernel (no %s)", n.Name.V, key, look)
			default:
				checkSysctlValue(l, sc, now)
			}
		}
	}
}

// checkSysctlValue reports a value the kernel would refuse for certain: a
// sysctl that is one or more integers now takes only integers, as many.
func checkSysctlValue(l *errList, sc sysctlAt, now string) {
	cur := strings.Fields(now)
	if len(cur) == 0 || !allInts(cur) {
		return
	}
	if vals := strings.Fields(sc.value); len(vals) > 0 && len(vals) <= len(cur) && allInts(vals) {
		return
	}
	want := "an integer"
	if len(cur) > 1 {
		want = fmt.Sprintf("up to %d integers", len(cur))
	}
	l.add(sc.at.val, "node %s: sysctl %s: value %q: want %s (it is %q on this machine)", sc.node, sc.key, sc.value, want, strings.Join(cur, " "))
}

func allInts(words []string) bool {
	for _, w := range words {
		if _, err := strconv.ParseInt(w, 10, 64); err != nil {
			return false
		}
	}
	return true
}
