package nettest

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/nettestlab/nettest/internal/nsthread"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// namespace is one anonymous network namespace, held by a file descriptor,
// with a netlink handle whose socket lives inside it.
type namespace struct {
	fd netns.NsHandle
	// nl is the handle every request goes through: a copy of nlOwner, with
	// which it shares one map of sockets. Closing nlOwner closes those
	// sockets and empties nlOwner, but nl keeps its map: its requests then
	// fail. A netlink.Handle without sockets (a closed one) would instead
	// open a new socket in the calling thread's namespace for each request:
	// the caller's, not the node's.
	nl      *netlink.Handle
	nlOwner *netlink.Handle
	raw     *nl.SocketHandle // for the requests netlink.Handle does not make (readiness)
}

// closedNS is what a namespace's descriptor becomes when it is closed. Not
// netns.None() (-1): to netns and netlink that means "the calling thread's
// namespace", whereas -2 is a descriptor every system call rejects.
const closedNS netns.NsHandle = -2

// setHandle makes h, a handle whose sockets live in the namespace, the
// namespace's (see the nl field).
func (ns *namespace) setHandle(h *netlink.Handle) {
	c := *h
	ns.nl, ns.nlOwner = &c, h
}

// Sysctls nettest writes in a namespace when it is created, before any
// interface exists, so that every interface inherits them. A new namespace
// inherits the host's IPv4 settings (a Docker host's ip_forward=1, a
// distribution's rp_filter) and IPv6's defaults, so nettest writes what it
// relies on. IPv6 settings are written only in topologies with IPv6: the
// first lookup under /proc/sys/net/ipv6 in each new namespace is not cheap.
const (
	sysPingGroupRange = "/proc/sys/net/ipv4/ping_group_range"
	sysIPForward      = "/proc/sys/net/ipv4/ip_forward"
	sysRPFilterAll    = "/proc/sys/net/ipv4/conf/all/rp_filter"
	sysRPFilterDef    = "/proc/sys/net/ipv4/conf/default/rp_filter"
	sysIPv6Forward    = "/proc/sys/net/ipv6/conf/all/forwarding"
)

// nodeSysctls returns the sysctls a node's namespace needs.
func nodeSysctls(router, ipv6 bool) [][2]string {
	forward := "0" // hosts never forward
	if router {
		forward = "1"
	}
	set := [][2]string{
		// ICMP datagram sockets for every group: ping without raw sockets,
		// the kernel keeping concurrent pings' replies apart.
		{sysPingGroupRange, pingGroupRange()},
		{sysIPForward, forward},
		// No reverse-path filter, whatever the host's distribution sets:
		// failover and ECMP make asymmetric paths, which a strict filter drops.
		{sysRPFilterAll, "0"},
		{sysRPFilterDef, "0"},
	}
	if ipv6 {
		set = append(set,
			[2]string{sysIPv6Forward, forward},
			// IPv6 addresses, link-local ones included, are usable at once:
			// no duplicate address detection.
			[2]string{"/proc/sys/net/ipv6/conf/all/accept_dad", "0"},
			[2]string{"/proc/sys/net/ipv6/conf/default/accept_dad", "0"},
			// IPv6 addresses survive a link going down, as IPv4 ones do.
			[2]string{"/proc/sys/net/ipv6/conf/all/keep_addr_on_down", "1"},
			[2]string{"/proc/sys/net/ipv6/conf/default/keep_addr_on_down", "1"},
		)
	}
	return set
}

// Sysctls of a LAN switch's namespace: the bridge and its ports carry the
// members' frames and have no addresses of their own, so no IPv6 link-local
// addresses either (addr_gen_mode none): a capture on the LAN shows only the
// members' packets, not the switch's duplicate address detection, router
// solicitations or multicast reports.
var switchSysctls = [][2]string{
	{"/proc/sys/net/ipv6/conf/all/addr_gen_mode", "1"},
	{"/proc/sys/net/ipv6/conf/default/addr_gen_mode", "1"},
	{"/proc/sys/net/ipv6/conf/default/accept_dad", "0"},
}

// pingGroupRange returns "low high": the groups of this process's user
// namespace (all of them, as root; only the mapped ones, rootless), which is
// what the kernel accepts in net.ipv4.ping_group_range.
func pingGroupRange() string {
	low, high := uint64(0), uint64(math.MaxInt32)
	data, err := os.ReadFile("/proc/self/gid_map")
	if err != nil {
		return fmt.Sprintf("%d %d", low, high)
	}
	first := true
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var inside, outside, count uint64
		if _, err := fmt.Sscan(line, &inside, &outside, &count); err != nil || count == 0 {
			continue
		}
		if first || inside < low {
			low = inside
		}
		if end := inside + count - 1; first || end > high {
			high = end
		}
		first = false
	}
	return fmt.Sprintf("%d %d", low, min(high, math.MaxInt32))
}

// newNamespaces creates one anonymous network namespace per entry of
// sysctls; in each it writes the sysctls the function returns, brings
// loopback up and opens netlink
// sockets. The work runs on goroutines locked to their OS threads, in
// batches: one thread unshares one namespace after another, then returns
// to its original namespace before it is unlocked.
func newNamespaces(sysctls []func() [][2]string) ([]*namespace, error) {
	out := make([]*namespace, len(sysctls))
	workers := min(runtime.GOMAXPROCS(0), len(sysctls))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			errs[w] = nsthread.Run(func() (func() error, error) {
				orig, err := netns.Get()
				if err != nil {
					return nil, fmt.Errorf("opening this thread's network namespace: %w", err)
				}
				restore := nsthread.RestoreTo(orig)
				for i := w; i < len(sysctls); i += workers {
					// From the original namespace each time: a new namespace
					// may copy the settings of the one it is made from
					// (net.core.devconf_inherit_init_net=3).
					if i != w {
						if err := netns.Set(orig); err != nil {
							return restore, fmt.Errorf("returning the thread to its network namespace: %w", err)
						}
					}
					if out[i], err = unshareNamespace(sysctls[i]); err != nil {
						return restore, err
					}
				}
				return restore, nil
			}, nil)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, ns := range out {
			ns.close()
		}
		return nil, err
	}
	return out, nil
}

// unshareNamespace moves the calling (locked) thread into a new network
// namespace and sets it up; the thread stays there.
func unshareNamespace(sysctls func() [][2]string) (*namespace, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, privilegeError("creating a network namespace", err)
	}
	ns := &namespace{fd: -1}
	var err error
	if ns.fd, err = netns.Get(); err != nil {
		return nil, fmt.Errorf("opening the new network namespace: %w", err)
	}
	for _, kv := range sysctls() {
		if err := writeSysctl(kv[0], kv[1]); err != nil {
			ns.close()
			return nil, err
		}
	}
	// NETLINK_ROUTE only: a handle asked for another family would open
	// that socket in whatever namespace the calling thread is in.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	ns.setHandle(h)
	sock, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	ns.raw = &nl.SocketHandle{Socket: sock}
	if err := ns.nl.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}); err != nil {
		ns.close()
		return nil, fmt.Errorf("bringing lo up: %w", err)
	}
	return ns, nil
}

// writeSysctl writes one sysctl of the calling thread's network namespace.
func writeSysctl(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && isIPv6Sysctl(path) && !ipv6Enabled() {
			return nil // IPv6 is off in this kernel; using it fails later, clearly
		}
		return fmt.Errorf("sysctl %s: %w", path, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sysctl %s = %q: %w", path, value, err)
	}
	return nil
}

func isIPv6Sysctl(path string) bool {
	const p = "/proc/sys/net/ipv6/"
	return len(path) >= len(p) && path[:len(p)] == p
}

func ipv6Enabled() bool {
	_, err := os.Stat("/proc/sys/net/ipv6")
	return err == nil
}

// do runs fn inside the namespace, on a goroutine locked to its OS thread.
// Goroutines that fn starts do not run in the namespace; sockets fn opens
// stay in it and may be used from anywhere.
func (ns *namespace) do(fn func() error) error {
	return nsthread.Run(func() (func() error, error) {
		orig, err := netns.Get()
		if err != nil {
			return nil, fmt.Errorf("opening this thread's network namespace: %w", err)
		}
		if err := netns.Set(ns.fd); err != nil {
			orig.Close()
			return nil, &enterError{privilegeError("entering the namespace", err)}
		}
		return nsthread.RestoreTo(orig), nil
	}, fn)
}

// enterError marks a failure to enter the namespace, as opposed to an error
// of the function run inside.
type enterError struct{ err error }

func (e *enterError) Error() string { return e.err.Error() }
func (e *enterError) Unwrap() error { return e.err }

// close releases the namespace. The kernel destroys it, with its interfaces,
// once nothing else holds it.
func (ns *namespace) close() error {
	if ns == nil {
		return nil
	}
	// ns.nl stays as it is: its requests fail from now on, rather than
	// open sockets in the caller's namespace (see the field).
	if ns.nlOwner != nil {
		ns.nlOwner.Close()
	}
	if ns.raw != nil {
		ns.raw.Close()
	}
	var err error
	if ns.fd >= 0 {
		err = ns.fd.Close()
	}
	ns.fd = closedNS
	return err
}

// inode returns the namespace's inode number, which identifies it in
// /proc/*/ns/net and in lsns(8).
func (ns *namespace) inode() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(ns.fd), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}
