package nettest_test

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nettestlab/nettest/nettest"
)

// noPanic runs f and turns a panic into an error.
func noPanic(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panicked: %v", p)
		}
	}()
	return f()
}

// TestNilContext: every call that takes a context returns an error naming
// the call and the thing when given a nil one, rather than panicking.
func TestNilContext(t *testing.T) {
	var none context.Context // nil
	want := func(t *testing.T, what string, err error, where string) {
		t.Helper()
		assert.EqualError(t, err, where+": "+what+": ctx is nil (use context.Background() for no deadline)")
	}
	// Before any privilege check.
	err := noPanic(func() error {
		n, err := nettest.Build(none, seedTopology())
		assert.Nil(t, n)
		return err
	})
	want(t, "Build", err, "nettest")
	err = noPanic(func() error {
		_, err := nettest.NewBuilder("nilctx").Host("a", "b").Link("a", "b").Build(none)
		return err
	})
	want(t, "Builder.Build", err, "nettest")

	n := routedTopology(t)
	h1 := node(t, n, "h1")
	want(t, "Ping", noPanic(func() error {
		_, err := h1.Ping(none, netip.MustParseAddr("10.0.2.2"))
		return err
	}), "nettest: node h1")
	want(t, "DialContext", noPanic(func() error {
		_, err := h1.DialContext(none, "tcp", "h2:9")
		return err
	}), "nettest: node h1")
	l, err := n.Link("h1:eth0")
	require.NoError(t, err)
	require.NoError(t, l.SetDown())
	want(t, "SetUp", noPanic(func() error { return l.SetUp(none) }), "nettest: link "+l.Name())
	want(t, "SetUp", noPanic(func() error { return l.A().SetUp(none) }), "nettest: interface h1:eth0")
	want(t, "Flap", noPanic(func() error { return <-l.Flap(none, 0, 0, 1) }), "nettest: link "+l.Name())
	require.NoError(t, l.SetUp(context.Background()))
	p, err := n.Partition("h2")
	require.NoError(t, err)
	want(t, "Heal", noPanic(func() error { return p.Heal(none) }), "nettest: partition "+p.String())
	require.NoError(t, p.Heal(context.Background()))

	requireTools(t, "sleep")
	c := h1.Command("sleep", "60")
	require.NoError(t, c.Start())
	t.Cleanup(func() { c.Stop(0) })
	where := "nettest: node h1: " + c.String()
	want(t, "WaitLog", noPanic(func() error { return c.WaitLog(none, regexp.MustCompile("x")) }), where)
	want(t, "WaitTCP", noPanic(func() error { return c.WaitTCP(none, "h2:9") }), where)
	want(t, "WaitFile", noPanic(func() error { return c.WaitFile(none, "/nonexistent") }), where)
}
