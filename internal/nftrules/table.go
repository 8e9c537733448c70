package nftrules

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Table is the nftables table (family inet) that holds everything nettest
// installs in a node.
const Table = "nettest"

// ChainNames are nettest's chains, in the order [List] lists them: the
// filter chains, then the NAT chains.
var ChainNames = []string{"input", "forward", "output", "prerouting", "postrouting"}

// FilterChains are the names of nettest's filter chains.
var FilterChains = []string{"input", "forward", "output"}

// Dial opens a lasting netfilter connection whose socket is made in the
// network namespace of the descriptor fd (which must be above 0: 0 means
// the calling thread's namespace) and used for every request, so that the
// connection never acts on another namespace.
func Dial(fd int) (*nftables.Conn, error) {
	if fd <= 0 {
		return nil, fmt.Errorf("no namespace descriptor (%d)", fd)
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting())
	if err != nil {
		return nil, err
	}
	// After CloseLasting a Conn dials a new socket for each request, in
	// the namespace of NetNS: by then fd may be closed, or reused for
	// another namespace. -1 makes such a dial fail (setns: bad file
	// descriptor); 0 would mean the calling thread's namespace.
	c.NetNS = -1
	return c, nil
}

// tableRef names nettest's table, for requests about it.
func tableRef() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyINet, Name: Table}
}

// Add appends a rule to one of nettest's chains (a NAT chain is made on
// first use), creating the table first if needed; text becomes the rule's
// comment.
func Add(c *nftables.Conn, chain string, exprs []expr.Any, text string) error {
	t, err := ensureTable(c)
	if err != nil {
		return err
	}
	ch := natChain(t, chain)
	switch {
	case ch != nil:
		c.AddChain(ch)
	case slices.Contains(FilterChains, chain):
		ch = filterChain(t, chain, nil)
	default:
		ch = &nftables.Chain{Name: chain, Table: t}
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs, UserData: comment(text)})
	return c.Flush()
}

// SetPolicy sets the default policy of the given filter chains: drop, or
// accept.
func SetPolicy(c *nftables.Conn, chains []string, drop bool) error {
	t, err := ensureTable(c)
	if err != nil {
		return err
	}
	policy := nftables.ChainPolicyAccept
	if drop {
		policy = nftables.ChainPolicyDrop
	}
	for _, name := range chains {
		c.AddChain(filterChain(t, name, &policy))
	}
	return c.Flush()
}

// DeleteTable deletes nettest's table; a namespace without one is fine.
func DeleteTable(c *nftables.Conn) error {
	c.DelTable(tableRef())
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// ClearNAT deletes nettest's NAT chains and their rules, leaving the
// filter chains.
func ClearNAT(c *nftables.Conn) error {
	tb := tableRef()
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return err
	}
	for _, ch := range chains {
		if ch.Table.Name == Table && natChain(tb, ch.Name) != nil {
			c.FlushChain(ch)
			c.DelChain(ch)
		}
	}
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// Line is a rule of nettest's table as the kernel has it, or a filter
// chain's default policy (Handle 0).
type Line struct {
	Chain          string
	Handle         uint64
	Text           string
	Packets, Bytes uint64
}

// List reads nettest's table: for each chain in the order of
// [ChainNames], its policy (filter chains) and then its rules in order.
func List(c *nftables.Conn) ([]Line, error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, err
	}
	chains = slices.DeleteFunc(chains, func(ch *nftables.Chain) bool { return ch.Table.Name != Table })
	slices.SortStableFunc(chains, func(a, b *nftables.Chain) int {
		return cmp.Or(cmp.Compare(chainOrder(a.Name), chainOrder(b.Name)), strings.Compare(a.Name, b.Name))
	})
	var out []Line
	for _, ch := range chains {
		if ch.Type == nftables.ChainTypeFilter && ch.Policy != nil {
			p := "accept"
			if *ch.Policy == nftables.ChainPolicyDrop {
				p = "drop"
			}
			out = append(out, Line{Chain: ch.Name, Text: "policy " + p})
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return out, fmt.Errorf("chain %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			out = append(out, describe(ch.Name, r))
		}
	}
	return out, nil
}

func chainOrder(name string) int {
	if i := slices.Index(ChainNames, name); i >= 0 {
		return i
	}
	return len(ChainNames)
}

// describe renders a rule read from the kernel: its comment, or the kinds
// of its expressions.
func describe(chain string, r *nftables.Rule) Line {
	l := Line{Chain: chain, Handle: r.Handle}
	if text, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok {
		l.Text = text
	} else {
		l.Text = "rule: " + ExprKinds(r.Exprs)
	}
	for _, e := range r.Exprs {
		if c, ok := e.(*expr.Counter); ok {
			l.Packets, l.Bytes = c.Packets, c.Bytes
		}
	}
	return l
}

// ExprKinds names expressions by their types: "meta cmp payload".
func ExprKinds(exprs []expr.Any) string {
	var kinds []string
	for _, e := range exprs {
		kinds = append(kinds, strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", e), "*expr.")))
	}
	return strings.Join(kinds, " ")
}

// comment returns a rule's user data holding text, which nft(8) shows as
// the rule's comment.
func comment(text string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, text)
}

// ensureTable creates nettest's table, with its filter chains (policy
// accept) and the rules that keep loopback and IPv6 neighbour discovery
// working, unless it exists. Creation is exclusive, so two callers never
// both add those rules.
func ensureTable(c *nftables.Conn) (*nftables.Table, error) {
	t := tableRef()
	c.CreateTable(t)
	accept := nftables.ChainPolicyAccept
	for _, name := range FilterChains {
		ch := c.AddChain(filterChain(t, name, &accept))
		var lo []expr.Any
		switch name {
		case "input":
			lo = ifaceMatch(expr.MetaKeyIIFNAME, "lo")
		case "output":
			lo = ifaceMatch(expr.MetaKeyOIFNAME, "lo")
		default:
			continue
		}
		for _, keep := range []struct {
			match []expr.Any
			text  string
		}{
			{lo, "nettest: loopback"},
			{neighbourDiscovery(), "nettest: IPv6 neighbour discovery (icmpv6 type nd-router-solicit to nd-neighbor-advert)"},
		} {
			exprs := append(keep.match, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictAccept})
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs, UserData: comment(keep.text)})
		}
	}
	err := c.Flush()
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, err
	}
	return t, nil
}

// filterChain returns one of nettest's filter chains ("input", "forward",
// "output"); policy nil leaves it as it is.
func filterChain(t *nftables.Table, name string, policy *nftables.ChainPolicy) *nftables.Chain {
	hook := map[string]*nftables.ChainHook{"input": nftables.ChainHookInput, "forward": nftables.ChainHookForward, "output": nftables.ChainHookOutput}[name]
	return &nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeFilter, Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: policy}
}

// natChain returns nettest's NAT chain of that name, or nil for another.
func natChain(t *nftables.Table, name string) *nftables.Chain {
	switch name {
	case "prerouting":
		return &nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest}
	case "postrouting":
		return &nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource}
	}
	return nil
}

// neighbourDiscovery matches ICMPv6 router and neighbour solicitations and
// advertisements (types 133 to 136).
func neighbourDiscovery() []expr.Any {
	return append(l4proto(unix.IPPROTO_ICMPV6),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: []byte{133}},
		&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: []byte{136}},
	)
}
