package scenario_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/scenario"
)

// manyLinks is a scenario of n unnamed links between two nodes.
func manyLinks(n int) string {
	var b strings.Builder
	b.WriteString("name: big\ntopology:\n  nodes: [a, b]\n  links:\n")
	for range n {
		b.WriteString("    - endpoints: [a, b]\n")
	}
	b.WriteString("steps:\n  - ping: {from: a, to: b}\n")
	return b.String()
}

// chainOf is a scenario of n nodes in a line, each link named, with a step
// per link and per node that refers to them.
func chainOf(n int) string {
	var b strings.Builder
	b.WriteString("name: chain\ntopology:\n  nodes: [")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "n%d", i)
	}
	b.WriteString("]\n  links:\n")
	for i := range n - 1 {
		fmt.Fprintf(&b, "    - {name: l%d, endpoints: [n%d, n%d]}\n", i, i, i+1)
	}
	b.WriteString("steps:\n")
	for i := range n - 1 {
		fmt.Fprintf(&b, "  - link-down: l%d\n  - ping: {from: n%d, to: n%d}\n", i, i, i+1)
	}
	return b.String()
}

// parseTime is the best of three parses of src.
func parseTime(t *testing.T, src string, wantErr bool) time.Duration {
	t.Helper()
	best := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		_, err := scenario.Parse("big.yaml", []byte(src), nil)
		best = min(best, time.Since(start))
		if (err != nil) != wantErr {
			t.Fatalf("err = %v, want an error: %v", err, wantErr)
		}
	}
	return best
}

// TestParseScales catches quadratic checks: four times the links, nodes
// or steps must take well under (10x) the sixteen times as long that quadratic
// work would. 8,000 links between two nodes took 6.6 s before, 20,000
// 65.9 s (naming each unnamed link by trying every name before it).
func TestParseScales(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for name, gen := range map[string]func(int) string{"links between two nodes": manyLinks, "chain with steps": chainOf} {
		t.Run(name, func(t *testing.T) {
			small, big := parseTime(t, gen(2000), false), parseTime(t, gen(8000), false)
			ratio := float64(big) / float64(small)
			t.Logf("2,000: %v, 8,000: %v (ratio %.1f; linear is 4, quadratic 16)", small, big, ratio)
			if ratio > 10 {
				t.Errorf("8,000 took %v, 2,000 %v: ratio %.1f, worse than linear", big, small, ratio)
			}
		})
	}
	// The case: 20,000 links, more than the automatic IPv4 pool
	// holds (16,384 /30s), so the last 3,616 are errors.
	bound := 5 * time.Second
	if raceEnabled {
		bound *= 5
	}
	if d := parseTime(t, manyLinks(20000), true); d > bound {
		t.Errorf("20,000 links took %v, want under %v", d, bound)
	}
}
