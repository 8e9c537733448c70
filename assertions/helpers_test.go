package assertions_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestMain runs the examples only with privilege, and lets at least 16
// tests run in parallel (they wait on the network, not the CPU; go test
// allows GOMAXPROCS by default) unless -parallel is given.
func TestMain(m *testing.M) {
	testenv.Private()
	testenv.SkipExamplesWithoutPrivilege()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given && parallelism() < minParallel {
		flag.Set("test.parallel", strconv.Itoa(minParallel))
	}
	os.Exit(m.Run())
}

const minParallel = 16

// fakeT records what a check reports, for tests of the failing paths.
type fakeT struct {
	mu      sync.Mutex
	errors  []string
	helpers int
	stopped bool
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeT) Helper() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.helpers++
}

func (f *fakeT) FailNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
}

// message returns the one failure reported.
func (f *fakeT) message(t testing.TB) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.errors, 1, "want one failure, got %q", f.errors)
	return f.errors[0]
}

// passes runs a check on a fake and requires it to pass silently.
func passes(t testing.TB, check func(*fakeT) bool) {
	t.Helper()
	f := &fakeT{}
	ok := check(f)
	require.Empty(t, f.errors)
	require.True(t, ok, "the check returns true when it passes")
	require.Positive(t, f.helpers, "the check calls Helper")
}

// fails runs a check on a fake, requires it to fail once and returns the
// message.
func fails(t testing.TB, check func(*fakeT) bool) string {
	t.Helper()
	f := &fakeT{}
	ok := check(f)
	msg := f.message(t)
	require.False(t, ok, "the check returns false when it fails: %s", msg)
	return msg
}

// build builds the builder's topology for the test.
func build(t testing.TB, b *nettest.Builder) *nettest.Network {
	t.Helper()
	testenv.RequirePrivilege(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := b.Build(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

// chain is h1 - r1 - h2, with h3 on r1 too: IPv4 and IPv6, routed. h1
// also has a route to the silent subnet 10.9.0.0/24 on its link, where
// no one answers (see silent).
func chain(t testing.TB) *nettest.Network {
	return build(t, nettest.NewBuilder("chain").Host("h1", "h2", "h3").Router("r1").
		Chain("h1", "r1", "h2").Link("r1", "h3").
		Route("h1", "10.9.0.0/24 dev eth0"))
}

// silent is an address to which h1 of chain has a route and from which
// nothing ever comes back.
const silent = "10.9.0.1"

func node(t testing.TB, n *nettest.Network, name string) *nettest.Node {
	t.Helper()
	nd, err := n.Node(name)
	require.NoError(t, err)
	return nd
}

func link(t testing.TB, n *nettest.Network, name string) *nettest.Link {
	t.Helper()
	l, err := n.Link(name)
	require.NoError(t, err)
	return l
}

// lines splits a message for line checks.
func lines(s string) []string { return strings.Split(s, "\n") }
