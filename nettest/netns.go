package nettest

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nettestlab/nettest/internal/nsthread"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// namespace is one anonymous network namespace. It is held either by a
// file descriptor (fd) or, for the nodes Build makes, by a bind mount in the
// holder (dir and name, see nshold.go), without a descriptor: it is then
// opened only while it is used. Its netlink sockets (nsConn) are opened
// when a request needs them and kept in a process-wide cache of bounded
// size (conns), which closes those used least recently.
type namespace struct {
	held netns.NsHandle // the descriptor holding it; -1 when bound in dir
	dir  *nsDir
	name string // its file in dir

	// nl makes netlink requests inside the namespace (NETLINK_ROUTE only),
	// opening its sockets as needed.
	nl nsHandle

	open sync.Mutex // serializes opening c
	// Guarded by conns.mu:
	c      *nsConn
	pins   int            // uses of c in progress
	elem   *list.Element  // in conns.lru while c is set
	kept   netns.NsHandle // the descriptor NetNS handed out, or -1
	closed bool
}

// nsConn is a namespace's open netlink sockets.
type nsConn struct {
	// nl is the handle every request goes through: a copy of nlOwner, with
	// which it shares one map of sockets. Closing nlOwner closes those
	// sockets and empties nlOwner, but nl keeps its map: its requests then
	// fail. A netlink.Handle without sockets (a closed one) would instead
	// open a new socket in the calling thread's namespace for each request:
	// the caller's, not the node's. So a handle given out by Node.Netlink
	// and kept past its use fails once its sockets are closed.
	nl      *netlink.Handle
	nlOwner *netlink.Handle
	raw     *nl.SocketHandle // for the requests netlink.Handle does not make (readiness, veths, neighbours)
}

func (c *nsConn) close() {
	c.nlOwner.Close()
	c.raw.Close()
}

// newConn opens netlink sockets in the calling thread's namespace.
func newConn() (*nsConn, error) {
	// NETLINK_ROUTE only: a handle asked for another family would open
	// that socket in whatever namespace the calling thread is in.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	sock, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	cp := *h
	return &nsConn{nl: &cp, nlOwner: h, raw: &nl.SocketHandle{Socket: sock}}, nil
}

// conns caches the namespaces' open sockets, process-wide: at most max
// namespaces have theirs open (two descriptors each); past that, those not
// in use and used least recently are closed.
var conns struct {
	mu  sync.Mutex
	lru list.List // of *namespace, most recently used first
	max int
}

func init() { conns.max = connCap() }

// refreshConnCap sizes the cache for the open-file limit as it is now.
func refreshConnCap() {
	c := connCap()
	conns.mu.Lock()
	defer conns.mu.Unlock()
	conns.max = c
	evictLocked()
}

// connCap returns how many namespaces may keep sockets open: a sixteenth of
// the soft limit on open files (two sockets each: an eighth of it), between
// 16 and 1,024, so that a large topology leaves the test most of its
// descriptors.
func connCap() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 64
	}
	return int(min(max(rl.Cur/16, 16), 1024))
}

// errNSClosed is what a request on a closed namespace fails with.
var errNSClosed = fmt.Errorf("the namespace is released: %w", ErrClosed)

// acquire returns the namespace's sockets, opening them if needed, and
// keeps them open until release.
func (ns *namespace) acquire() (*nsConn, error) {
	conns.mu.Lock()
	if ns.closed {
		conns.mu.Unlock()
		return nil, errNSClosed
	}
	ns.pins++
	if c := ns.c; c != nil {
		conns.lru.MoveToFront(ns.elem)
		conns.mu.Unlock()
		return c, nil
	}
	conns.mu.Unlock()
	ns.open.Lock()
	defer ns.open.Unlock()
	conns.mu.Lock()
	c := ns.c
	conns.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := ns.openConn()
	if err != nil {
		ns.release()
		return nil, err
	}
	conns.mu.Lock()
	defer conns.mu.Unlock()
	if ns.closed {
		c.close()
		ns.pins--
		return nil, errNSClosed
	}
	ns.setConnLocked(c)
	return c, nil
}

// setConnLocked makes c the namespace's sockets, with conns.mu held.
func (ns *namespace) setConnLocked(c *nsConn) {
	ns.c = c
	ns.elem = conns.lru.PushFront(ns)
	evictLocked()
}

// adopt makes c, sockets opened inside the namespace, its own.
func (ns *namespace) adopt(c *nsConn) {
	conns.mu.Lock()
	defer conns.mu.Unlock()
	ns.setConnLocked(c)
}

// release ends a use begun by acquire.
func (ns *namespace) release() {
	conns.mu.Lock()
	defer conns.mu.Unlock()
	ns.pins--
	evictLocked()
}

// evictLocked closes the sockets of the least recently used namespaces not
// in use until at most conns.max have theirs open.
func evictLocked() {
	for e := conns.lru.Back(); e != nil && conns.lru.Len() > conns.max; {
		prev := e.Prev()
		if ns := e.Value.(*namespace); ns.pins == 0 {
			ns.dropConnLocked()
		}
		e = prev
	}
}

func (ns *namespace) dropConnLocked() {
	if ns.c == nil {
		return
	}
	conns.lru.Remove(ns.elem)
	ns.c.close()
	ns.c, ns.elem = nil, nil
}

// with runs fn with the namespace's sockets.
func (ns *namespace) with(fn func(c *nsConn) error) error {
	c, err := ns.acquire()
	if err != nil {
		return err
	}
	defer ns.release()
	return fn(c)
}

// openConn opens the namespace's sockets from outside.
func (ns *namespace) openConn() (*nsConn, error) {
	var c *nsConn
	err := ns.do(func() (err error) {
		c, err = newConn()
		return err
	})
	return c, err
}

// withFD runs fn with a descriptor of the namespace, opened for the call
// when it is held by a bind mount.
func (ns *namespace) withFD(fn func(fd netns.NsHandle) error) error {
	conns.mu.Lock()
	closed, kept := ns.closed, ns.kept
	conns.mu.Unlock()
	switch {
	case closed:
		return errNSClosed
	case ns.dir == nil:
		return fn(ns.held)
	case kept >= 0:
		return fn(kept)
	}
	fd, err := ns.dir.open(ns.name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(netns.NsHandle(fd))
}

// keepFD returns a descriptor of the namespace that stays open until close.
func (ns *namespace) keepFD() (netns.NsHandle, error) {
	if ns.dir == nil {
		return ns.held, nil
	}
	ns.open.Lock()
	defer ns.open.Unlock()
	conns.mu.Lock()
	closed, kept := ns.closed, ns.kept
	conns.mu.Unlock()
	if closed {
		return closedNS, errNSClosed
	}
	if kept >= 0 {
		return kept, nil
	}
	fd, err := ns.dir.open(ns.name)
	if err != nil {
		return closedNS, err
	}
	conns.mu.Lock()
	ns.kept = netns.NsHandle(fd)
	conns.mu.Unlock()
	return ns.kept, nil
}

// stat returns the namespace's nsfs identity (device and inode).
func (ns *namespace) stat() (unix.Stat_t, error) {
	var st unix.Stat_t
	if ns.dir != nil {
		return ns.dir.stat(ns.name)
	}
	err := unix.Fstat(int(ns.held), &st)
	return st, err
}

// closedNS is what a namespace's descriptor becomes when it is closed. Not
// netns.None() (-1): to netns and netlink that means "the calling thread's
// namespace", whereas -2 is a descriptor every system call rejects.
const closedNS netns.NsHandle = -2

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
// loopback up and opens netlink sockets. With dir, the namespaces are held
// by bind mounts there (named by their position), else by descriptors.
// made, if not nil, counts the namespaces made as they are. The work runs on
// goroutines locked to their OS threads, in parallel: one thread unshares
// one namespace after another, then returns to its original namespace
// before it is unlocked.
func newNamespaces(sysctls []func() [][2]string, dir *nsDir, made *atomic.Int64) ([]*namespace, error) {
	out := make([]*namespace, len(sysctls))
	workers := min(runtime.GOMAXPROCS(0), len(sysctls))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var batch []int // descriptors of namespaces still to bind
			var names []string
			flush := func() error {
				if len(batch) == 0 {
					return nil
				}
				err := dir.bind(batch, names)
				for _, fd := range batch {
					unix.Close(fd)
				}
				batch, names = batch[:0], names[:0]
				return err
			}
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
							return restore, errors.Join(fmt.Errorf("returning the thread to its network namespace: %w", err), flush())
						}
					}
					ns, c, err := unshareNamespace(sysctls[i])
					if err != nil {
						return restore, errors.Join(err, flush())
					}
					if dir != nil {
						ns.dir, ns.name = dir, strconv.Itoa(i)
						batch, names = append(batch, int(ns.held)), append(names, ns.name)
						ns.held = -1
					}
					out[i] = ns
					ns.adopt(c)
					if len(batch) == bindBatch {
						if err := flush(); err != nil {
							return restore, err
						}
					}
					if made != nil {
						made.Add(1)
					}
				}
				return restore, flush()
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

// bindBatch is how many new namespaces a thread holds by descriptor before
// it has the holder bind them.
const bindBatch = 32

// unshareNamespace moves the calling (locked) thread into a new network
// namespace and sets it up; the thread stays there. It returns the
// namespace, held by a descriptor, and its sockets.
func unshareNamespace(sysctls func() [][2]string) (*namespace, *nsConn, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, nil, privilegeError("creating a network namespace", err)
	}
	ns := &namespace{held: -1, kept: -1}
	ns.nl.ns = ns
	var err error
	if ns.held, err = netns.Get(); err != nil {
		return nil, nil, fmt.Errorf("opening the new network namespace: %w", err)
	}
	if err := writeNetSysctls(sysctls()); err != nil {
		ns.close()
		return nil, nil, err
	}
	c, err := newConn()
	if err != nil {
		ns.close()
		return nil, nil, err
	}
	if err := c.nl.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}); err != nil {
		c.close()
		ns.close()
		return nil, nil, fmt.Errorf("bringing lo up: %w", err)
	}
	return ns, c, nil
}

// sysNet is the directory of the network namespace's sysctls.
const sysNet = "/proc/sys/net/"

// writeNetSysctls writes sysctls of the calling thread's network namespace,
// those under /proc/sys/net relative to one descriptor of that directory.
//
// Each namespace has a /proc/sys/net of its own, and the kernel keeps every
// namespace's entry of that name, once looked up, under the one /proc/sys,
// with the same name: a lookup of the path may compare them all, a cost
// that grows with the number of namespaces on the machine. Below it, each
// namespace's entries are its own. So the directory is looked up once per
// namespace, not once per sysctl.
func writeNetSysctls(set [][2]string) error {
	dir := -1
	defer func() {
		if dir >= 0 {
			unix.Close(dir)
		}
	}()
	for _, kv := range set {
		rel, ok := strings.CutPrefix(kv[0], sysNet)
		if !ok {
			if err := writeSysctl(kv[0], kv[1]); err != nil {
				return err
			}
			continue
		}
		if dir < 0 {
			var err error
			if dir, err = unix.Open(sysNet, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
				return fmt.Errorf("sysctl %s: %w", kv[0], &os.PathError{Op: "open", Path: sysNet, Err: err})
			}
		}
		if err := writeSysctlAt(dir, rel, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// writeSysctlAt is writeSysctl for path, rel in the directory dir.
func writeSysctlAt(dir int, rel, path, value string) error {
	fd, err := unix.Openat(dir, rel, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) && isIPv6Sysctl(path) && !ipv6Enabled() {
			return nil // IPv6 is off in this kernel; using it fails later, clearly
		}
		return fmt.Errorf("sysctl %s: %w", path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	f := os.NewFile(uintptr(fd), path)
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sysctl %s = %q: %w", path, value, err)
	}
	return nil
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
	return ns.withFD(func(fd netns.NsHandle) error {
		return nsthread.Run(func() (func() error, error) {
			orig, err := netns.Get()
			if err != nil {
				return nil, fmt.Errorf("opening this thread's network namespace: %w", err)
			}
			if err := netns.Set(fd); err != nil {
				orig.Close()
				return nil, &enterError{privilegeError("entering the namespace", err)}
			}
			return nsthread.RestoreTo(orig), nil
		}, fn)
	})
}

// enterError marks a failure to enter the namespace, as opposed to an error
// of the function run inside.
type enterError struct{ err error }

func (e *enterError) Error() string { return e.err.Error() }
func (e *enterError) Unwrap() error { return e.err }

// close releases the namespace's descriptors and sockets. The kernel
// destroys it, with its interfaces, once nothing else holds it (a namespace
// bound in a directory is held until the directory is released).
func (ns *namespace) close() error {
	if ns == nil {
		return nil
	}
	conns.mu.Lock()
	ns.closed = true
	// The handle copies given out keep their closed sockets: their
	// requests fail from now on, rather than open sockets in the caller's
	// namespace (see nsConn).
	ns.dropConnLocked()
	kept := ns.kept
	ns.kept = closedNS
	conns.mu.Unlock()
	var err error
	if kept >= 0 {
		err = kept.Close()
	}
	if ns.held >= 0 {
		err = errors.Join(err, ns.held.Close())
	}
	ns.held = closedNS
	return err
}

// inode returns the namespace's inode number, which identifies it in
// /proc/*/ns/net and in lsns(8).
func (ns *namespace) inode() (uint64, error) {
	st, err := ns.stat()
	return st.Ino, err
}
