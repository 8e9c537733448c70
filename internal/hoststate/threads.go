package hoststate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"

	"github.com/nettestlab/nettest/internal/nsthread"
	"github.com/vishvananda/netns"
)

// host is the network namespace this process was in when the package was
// initialized: the host's, for a test binary. It is captured then, on the
// main thread before any test code runs, because no path names it reliably
// later: /proc/self/ns/net is the namespace of the process's main thread,
// and the Go runtime may run a goroutine that enters a namespace on the main
// thread like on any other.
var host = openHost()

type hostNS struct {
	ns  netns.NsHandle // held open for the life of the process
	id  string         // "net:[inode]", as /proc/*/ns/net links read
	err error
}

func openHost() hostNS {
	const path = "/proc/thread-self/ns/net"
	id, err := os.Readlink(path)
	if err != nil {
		return hostNS{ns: -1, err: fmt.Errorf("hoststate: reading %s at start-up: %w", path, err)}
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return hostNS{ns: -1, err: fmt.Errorf("hoststate: opening %s at start-up: %w", path, err)}
	}
	return hostNS{ns: ns, id: id}
}

// ThreadsOutside lists the threads of this process whose network namespace
// differs from the host's, as "tid: net:[inode]" strings sorted by thread
// id. The host's namespace is the one the process was in when it started
// (strictly: when this package was initialized), which is also what
// /proc/self/ns/net names unless the main thread itself was moved. An
// empty list proves that no goroutine was left locked to a thread inside a
// topology's namespace and no thread went back to the pool from one.
// Threads that exit while they are listed are skipped.
//
// Code that enters namespaces on purpose (Node.Do, a netlink handle being
// opened in a namespace) runs on such threads for a moment, so call it when
// nothing of the kind is running.
func ThreadsOutside() ([]string, error) {
	if host.err != nil {
		return nil, host.err
	}
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("hoststate: listing this process's threads: %w", err)
	}
	type thread struct {
		tid int
		ns  string
	}
	var outside []thread
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ns, err := os.Readlink("/proc/self/task/" + e.Name() + "/ns/net")
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				continue // the thread exited (a dead task's ns links are unreadable)
			}
			return nil, fmt.Errorf("hoststate: reading thread %d's network namespace: %w", tid, err)
		}
		if ns != host.id {
			outside = append(outside, thread{tid, ns})
		}
	}
	sort.Slice(outside, func(i, j int) bool { return outside[i].tid < outside[j].tid })
	out := make([]string, 0, len(outside))
	for _, th := range outside {
		out = append(out, fmt.Sprintf("%d: %s", th.tid, th.ns))
	}
	return out, nil
}

// inNamespace runs fn on a new goroutine locked to its OS thread, after the
// thread has joined the network namespace ns, and then puts the thread back
// (see nsthread.Run). A panic in fn is returned as an error.
func inNamespace(ns netns.NsHandle, fn func() error) error {
	return nsthread.Run(func() (func() error, error) {
		orig, err := netns.Get()
		if err != nil {
			return nil, fmt.Errorf("hoststate: opening this thread's network namespace: %w", err)
		}
		if err := netns.Set(ns); err != nil {
			orig.Close()
			return nil, fmt.Errorf("hoststate: joining the network namespace to read it: %w "+
				"(taking a snapshot needs CAP_SYS_ADMIN, as building a topology does)", err)
		}
		restore := nsthread.RestoreTo(orig)
		return func() error {
			if err := restore(); err != nil {
				return fmt.Errorf("hoststate: %w", err)
			}
			return nil
		}, nil
	}, func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("hoststate: panic while reading a namespace: %v", p)
			}
		}()
		return fn()
	})
}
