package assertions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/nettestlab/nettest/nettest"
)

// Reachable checks that every node of nodes answers every other's pings
// (Mininet's pingall): each ordered pair, over each family the target has
// (or those chosen with [IPv4] and [IPv6]), all pinged at once. An empty
// nodes means every host and router of the network. Options: [Count],
// [Interval], [Timeout], [IPv4], [IPv6], [Within], [Every].
//
// The failure shows a matrix, a row per source and a column per target,
// followed by each failed ping:
//
//	reachability of h1, h2, h3: 2/12 pings failed:
//	  from\to  h1     h2     h3
//	  h1       -      ok/ok  X/ok
//	  h2       ok/ok  -      ok/ok
//	  h3       X/ok   ok/ok  -
//	  (each cell: IPv4/IPv6; X: no reply, n/a: no address of that family)
//	ping h1 -> h3 (198.18.0.10): 0/1 replies within 1s; h1's kernel has no route to it
//	...
func Reachable(t TestingT, n *nettest.Network, nodes []string, opts ...PingOption) bool {
	if h, ok := t.(helperT); ok {
		h.Helper()
	}
	return check(t, "Reachable", n, options(opts, PingOption.pingOption), func(c config) (try, error) {
		if len(nodes) == 0 {
			for _, nd := range n.Nodes() {
				nodes = append(nodes, nd.Name())
			}
		}
		m, err := newMatrix(n, c, nodes)
		if err != nil {
			return nil, fmt.Errorf("reachability of %s: %w", strings.Join(nodes, ", "), err)
		}
		return func() ([]finding, error) {
			fs, err := m.pingAll(c)
			if err != nil {
				return nil, err
			}
			return []finding{m.summary(fs)}, nil
		}, nil
	})
}

// matrix is the plan of a Reachable check.
type matrix struct {
	nodes    []string
	families []nettest.Family
	legs     []pingLeg
	from     []int          // the index in nodes of each leg's source
	cell     map[[3]int]int // from, to, family index -> leg
}

func newMatrix(n *nettest.Network, c config, nodes []string) (*matrix, error) {
	if len(nodes) < 2 {
		return nil, fmt.Errorf("want at least two nodes")
	}
	m := &matrix{nodes: nodes, families: c.families, cell: map[[3]int]int{}}
	targets := make([]target, len(nodes))
	for i, name := range nodes {
		nd, err := resolveNode(n, name)
		if err != nil {
			return nil, err
		}
		targets[i] = target{nettest.Target{Ref: name, Node: nd}}
		if len(c.families) == 0 {
			for _, f := range targets[i].families() {
				if !slices.Contains(m.families, f) {
					m.families = append(m.families, f)
				}
			}
		}
	}
	slices.Sort(m.families)
	for i, from := range targets {
		for j, to := range targets {
			if i == j {
				continue
			}
			for k, f := range m.families {
				dst, err := to.addrOf(f)
				if err != nil {
					continue // n/a
				}
				m.cell[[3]int{i, j, k}] = len(m.legs)
				m.from = append(m.from, i)
				m.legs = append(m.legs, pingLeg{from: from.Node, dst: dst, to: to,
					subject: fmt.Sprintf("ping %s -> %s", from.Ref, to.label(dst.String()))})
			}
		}
	}
	if len(m.legs) == 0 {
		return nil, fmt.Errorf("no node has an address to ping")
	}
	return m, nil
}

// Bounds on the pings a Reachable check runs at once: in all (times the
// requests each sends, as a ping with several spends most of its time
// waiting for the next), and from one node. 256 one-request pings keep a
// 2-core machine busy; far more only queue packets in the kernel, which
// drops them past net.core.netdev_max_backlog (1000 a CPU). Each source
// node's pings share one socket per family (a nettest.Pinger).
const (
	reachableWorkers    = 256
	reachableMaxWorkers = 2048
	reachablePerSource  = 32
)

// pingAll runs the matrix's pings, a bounded number at once, and returns
// their findings in the legs' order, or the first error.
func (m *matrix) pingAll(c config) ([]finding, error) {
	order := m.schedule()
	fs := make([]finding, len(m.legs))
	errs := make([]error, len(m.legs))
	workers := min(len(order), reachableWorkers*max(c.count, 1), reachableMaxWorkers)
	perSource := make([]chan struct{}, len(m.nodes))
	for i := range perSource {
		perSource[i] = make(chan struct{}, reachablePerSource)
	}
	// One socket per source node and family, shared by its pings, rather
	// than one per ping: 999,000 pings on 1,000 hosts.
	pingers := make([]*nettest.Pinger, len(m.nodes))
	for _, leg := range order {
		if i := m.from[leg]; pingers[i] == nil {
			pingers[i] = m.legs[leg].from.Pinger()
		}
	}
	defer func() {
		for _, p := range pingers {
			if p != nil {
				p.Close()
			}
		}
	}()
	var next sync.Mutex
	pos := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				next.Lock()
				if pos == len(order) || c.ctx.Err() != nil {
					next.Unlock()
					return
				}
				leg := order[pos]
				pos++
				next.Unlock()
				slot := perSource[m.from[leg]]
				slot <- struct{}{}
				fs[leg], errs[leg] = m.legs[leg].pingWith(c, true, pingers[m.from[leg]].Ping)
				<-slot
			}
		})
	}
	wg.Wait()
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	return fs, errors.Join(errs...)
}

// schedule orders the legs in rounds: in round r each node pings the one r
// places after it, over each family, so that the pings at any moment come
// from and go to many nodes.
func (m *matrix) schedule() []int {
	n := len(m.nodes)
	order := make([]int, 0, len(m.legs))
	for r := 1; r < n; r++ {
		for i := range n {
			for k := range m.families {
				if leg, ok := m.cell[[3]int{i, (i + r) % n, k}]; ok {
					order = append(order, leg)
				}
			}
		}
	}
	return order
}

// summary turns the pings' findings into one: the matrix and the failures.
func (m *matrix) summary(fs []finding) finding {
	var failed []string
	for _, f := range fs {
		if !f.ok {
			failed = append(failed, f.message(0))
		}
	}
	sum := finding{
		ok:      len(failed) == 0,
		subject: "reachability of " + strings.Join(m.nodes, ", "),
		seen:    fmt.Sprintf("%d/%d pings failed", len(failed), len(fs)),
	}
	if sum.ok {
		return sum
	}
	sum.note = ":\n" + m.table(fs) + "\n" + strings.Join(failed, "\n")
	return sum
}

// table draws the matrix of the pings' findings, a row per source and a
// column per target, and its legend, indented by two spaces.
func (m *matrix) table(fs []finding) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "  from\\to\t%s\n", strings.Join(m.nodes, "\t"))
	for i, from := range m.nodes {
		row := []string{from}
		for j := range m.nodes {
			var cells []string
			for k := range m.families {
				leg, ok := m.cell[[3]int{i, j, k}]
				switch {
				case i == j:
				case !ok:
					cells = append(cells, "n/a")
				case fs[leg].ok:
					cells = append(cells, "ok")
				default:
					cells = append(cells, "X")
				}
			}
			if i == j {
				cells = []string{"-"}
			}
			row = append(row, strings.Join(cells, "/"))
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(row, "\t"))
	}
	w.Flush()
	legend := "X: no reply"
	if len(m.families) > 1 {
		legend = "each cell: IPv4/IPv6; X: no reply, n/a: no address of that family"
	}
	return strings.TrimRight(b.String(), "\n") + "\n  (" + legend + ")"
}

// Reachability is what one round of Reachable's pings saw, for programs
// that show the matrix whether or not a ping failed (nettest-run pingall).
type Reachability struct {
	// Nodes are the matrix's rows and columns, in order.
	Nodes []string
	// Failed and Total count the pings.
	Failed, Total int
	// Matrix is the table Reachable's failure shows, legend included:
	// a row per source, a column per target, each line indented.
	Matrix string
	// Failures say what each failed ping saw, one line each, as
	// Reachable says it.
	Failures []string
}

// PingAll pings as Reachable does, once (Within and Every do nothing), and
// returns what it saw instead of reporting it. An empty nodes means every
// host and router of the network. The error says why the pings could not
// be made at all (an unknown node, no address to ping, ctx ended).
func PingAll(ctx context.Context, n *nettest.Network, nodes []string, opts ...PingOption) (*Reachability, error) {
	c, err := newConfig("PingAll", options(opts, PingOption.pingOption))
	if err != nil {
		return nil, err
	}
	if ctx != nil {
		c.ctx = ctx
	}
	if len(nodes) == 0 {
		for _, nd := range n.Nodes() {
			nodes = append(nodes, nd.Name())
		}
	}
	m, err := newMatrix(n, c, nodes)
	if err != nil {
		return nil, fmt.Errorf("reachability of %s: %w", strings.Join(nodes, ", "), err)
	}
	fs, err := m.pingAll(c)
	if err != nil {
		return nil, err
	}
	r := &Reachability{Nodes: nodes, Total: len(fs), Matrix: m.table(fs)}
	for _, f := range fs {
		if !f.ok {
			r.Failures = append(r.Failures, f.message(0))
		}
	}
	r.Failed = len(r.Failures)
	return r, nil
}
