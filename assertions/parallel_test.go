package assertions_test

import (
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/assertions"
)

// TestParallelPings: 16 parallel tests ping from the same node at once,
// half to a live host and half to a silent address, five requests each.
// Every live ping gets all its replies and every silent one none: no ping
// sees another's replies. Each also pings in a topology of its own.
func TestParallelPings(t *testing.T) {
	shared := chain(t)
	// With -parallel 16 or more (the default here, see TestMain), the tests
	// wait for each other so that their pings overlap.
	together := parallelism() >= 16
	var arrived sync.WaitGroup
	arrived.Add(16)
	for i := range 16 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			arrived.Done()
			if together {
				arrived.Wait()
			}
			opts := []assertions.PingOption{assertions.Count(5), assertions.Interval(10 * time.Millisecond), assertions.Timeout(500 * time.Millisecond)}
			if i%2 == 0 {
				passes(t, func(f *fakeT) bool { return assertions.Ping(f, shared, "h1", "h2", opts...) })
				passes(t, func(f *fakeT) bool { return assertions.Ping(f, shared, "h1", "h3", opts...) })
			} else {
				passes(t, func(f *fakeT) bool { return assertions.NoPing(f, shared, "h1", silent, opts...) })
				msg := fails(t, func(f *fakeT) bool { return assertions.Ping(f, shared, "h1", silent, opts...) })
				// Once h1's kernel has given up resolving the address, it says so at once.
				require.Regexp(t, `^ping h1 -> 10\.9\.0\.1: 0/\d replies( within 500ms|: destination unreachable \(host unreachable\) from 198\.18\.0\.1); `+
					`h1's kernel routes it: 10\.9\.0\.1 dev eth0 src 198\.18\.0\.1$`, msg)
			}
			own := chain(t)
			passes(t, func(f *fakeT) bool { return assertions.Ping(f, own, "h2", "h3", opts...) })
			passes(t, func(f *fakeT) bool { return assertions.Reachable(f, own, nil) })
		})
	}
}

// parallelism returns go test's -parallel.
func parallelism() int {
	if p := flag.Lookup("test.parallel"); p != nil {
		return p.Value.(flag.Getter).Get().(int)
	}
	return 1
}
