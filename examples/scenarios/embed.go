// Package scenarios holds the example scenario files of nettest-run (one
// per topology shape: the seed tutorial, a LAN, routers with a failover,
// OSPF with BIRD; faults, impairments, a firewall, NAT and a capture; and
// loopbacks with policy routing)
// and embeds them: `nettest-run demo` runs seed.yaml from
// the binary. Its test runs every one of them.
package scenarios

import "embed"

// Files holds the example scenarios, *.yaml.
//
//go:embed *.yaml
var Files embed.FS

// Demo is the scenario `nettest-run` runs with no arguments.
const Demo = "seed.yaml"
