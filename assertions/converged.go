package assertions

import (
	"fmt"
	"strings"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// Defaults of Converged.
const (
	defaultSettle         = 3 * time.Second
	defaultConvergeWithin = 60 * time.Second
)

// Converged checks that the network has converged: every node's routing
// table (its main table, IPv4 and IPv6, with each route's protocol,
// metric and next hops: see [nettest.Node.RouteTable]) has stayed the same
// for a settle time ([Settle], 3s by default), and then every host
// reaches every other host (every node, when the network has fewer than
// two hosts), over each family they have, as [Reachable] checks. It keeps
// watching until that holds or [Within] is up (60s by default), so it is
// the one wait a test needs after starting routing daemons or cutting a
// link. Options: [Settle], [Within], [Every] (how often the tables are
// read; 100ms), [IPv4], [IPv6], [Context].
//
//	not converged after 1m0s: r2's routes changed 0.4s before the end (r2: 198.18.0.12/30 via 198.18.0.5 dev eth1 proto ospf metric 20)
func Converged(t TestingT, n *nettest.Network, opts ...ConvergeOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	c, err := newConfig("Converged", options(opts, ConvergeOption.convergeOption))
	if err != nil {
		return report(t, err.Error())
	}
	if n == nil {
		return report(t, "assertions.Converged: the network is nil")
	}
	return report(t, converge(n, c))
}

// converge watches the network's routing tables and, once they have
// settled, its reachability; it returns the failure message, empty when
// it converged.
func converge(n *nettest.Network, c config) string {
	if c.settle == 0 {
		c.settle = defaultSettle
	}
	if c.within == 0 {
		c.within = defaultConvergeWithin
	}
	var hosts, all []string
	for _, nd := range n.Nodes() {
		all = append(all, nd.Name())
		if nd.Kind() == nettest.Host {
			hosts = append(hosts, nd.Name())
		}
	}
	if len(hosts) < 2 {
		hosts = all
	}
	m, err := newMatrix(n, c, hosts)
	if err != nil {
		return fmt.Sprintf("assertions.Converged: reachability of %s: %v", strings.Join(hosts, ", "), err)
	}
	start := time.Now()
	tables := map[string]string{}
	changed, changedNode, changedTo := start, "", ""
	var lastReach string // what the last reachability try saw
	for {
		for _, nd := range n.Nodes() {
			routes, err := nd.RouteTable()
			if err != nil {
				return err.Error()
			}
			lines := make([]string, len(routes))
			for i, r := range routes {
				lines[i] = r.String()
				if !strings.Contains(lines[i], " proto ") {
					lines[i] += " proto " + r.Protocol
				}
			}
			table := strings.Join(lines, "\n")
			if old, seen := tables[nd.Name()]; !seen || old != table {
				tables[nd.Name()] = table
				changed, changedNode, changedTo = time.Now(), nd.Name(), firstNew(old, table)
			}
		}
		if time.Since(changed) >= c.settle {
			fs, err := m.pingAll(c)
			if err != nil {
				return err.Error()
			}
			s := m.summary(fs)
			if s.ok {
				return ""
			}
			lastReach = s.message(0)
		}
		if c.ctx.Err() != nil {
			return stopped(c, start, nil)
		}
		if time.Since(start) >= c.within {
			if time.Since(changed) < c.settle {
				msg := fmt.Sprintf("not converged after %v: %s's routes changed %v before the end", c.within, changedNode, time.Since(changed).Round(100*time.Millisecond))
				if changedTo != "" {
					msg += fmt.Sprintf(" (%s: %s)", changedNode, changedTo)
				}
				if lastReach != "" {
					msg += "; when they last held still: " + lastReach
				}
				return msg
			}
			return fmt.Sprintf("not converged after %v: the routes held still for %v, but %s", c.within, c.settle, lastReach)
		}
		select {
		case <-time.After(c.every):
		case <-c.ctx.Done():
		}
	}
}

// firstNew returns the first line of table that old lacks, or else the
// first line old had and table lacks ("gone: ...").
func firstNew(old, table string) string {
	was := map[string]bool{}
	for _, l := range strings.Split(old, "\n") {
		was[l] = true
	}
	is := map[string]bool{}
	for _, l := range strings.Split(table, "\n") {
		is[l] = true
		if !was[l] && l != "" {
			return l
		}
	}
	for _, l := range strings.Split(old, "\n") {
		if !is[l] && l != "" {
			return "gone: " + l
		}
	}
	return ""
}
