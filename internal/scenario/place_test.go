package scenario_test

import (
	"strings"
	"testing"
)

// TestEngineErrorsPlacedByElement: the engine's problems are placed by the
// element their ConfigError names (its index), not by their text, so that
// of elements written alike each problem is at its own.
func TestEngineErrorsPlacedByElement(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"the second of two routes alike", pair + "  routes:\n    a: [10.9.0.0/16 via 10.0.0.2, 10.9.0.0/16 via 10.0.0.2]\n",
			[]string{"t.yaml:8:35: node a: route 10.9.0.0/16 via 10.0.0.2: duplicate route: another route to 10.9.0.0/16 with metric 0"}},
		{"each of two duplicates", strings.Replace(pair, "[a, b]", "[a, b, a, a]", 1),
			[]string{"t.yaml:4:17: node a: duplicate node name", "t.yaml:4:20: node a: duplicate node name"}},
		{"the unnamed link's own end", strings.Replace(pair, "    - endpoints: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]\n",
			"    - endpoints: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]\n    - endpoints: [a:eth1 10.0.1.1/24, b:eth1 127.0.0.1/8]\n", 1),
			[]string{"t.yaml:7:46: link a-b-2: interface b:eth1: address 127.0.0.1/8: loopback address; every node has its own lo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseErrs(t, tc.src, nil)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
