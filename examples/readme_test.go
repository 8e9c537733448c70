package examples_test

import (
	"testing"

	"github.com/nettestlab/nettest/assertions"
	"github.com/nettestlab/nettest/fixtures"
)

// TestThroughRouters is the first example of the README, as it stands there.
func TestThroughRouters(t *testing.T) {
	t.Parallel()                      // topologies never collide
	n := fixtures.Chain(t, 3)         // h1 - r1 - r2 - r3 - h2, IPv4 and IPv6, routed
	assertions.Ping(t, n, "h1", "h2") // from inside h1, to every address family h2 has
	assertions.RouteVia(t, n, "r1", "h2", "r2")
	assertions.NoDial(t, n, "h1", "tcp", "h2", 22, assertions.Refused())
}
