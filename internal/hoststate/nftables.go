package hoststate

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// readNftables records the nftables ruleset of ns through a netfilter
// netlink socket opened in it.
func (s *State) readNftables(ns netns.NsHandle) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)), nftables.AsLasting())
	if err != nil {
		if unsupported(err) {
			s.Nftables = append(s.Nftables, "nftables unavailable in this kernel")
			return nil
		}
		return fmt.Errorf("hoststate: opening an nftables socket in the namespace: %w", err)
	}
	defer c.CloseLasting()
	add := func(format string, args ...any) { s.Nftables = append(s.Nftables, fmt.Sprintf(format, args...)) }

	tables, err := c.ListTables()
	if err != nil {
		if unsupported(err) {
			add("nftables unavailable in this kernel")
			return nil
		}
		return fmt.Errorf("hoststate: listing nftables tables: %w", err)
	}
	for _, t := range tables {
		add("table %s %s flags %#x", nftFamily(t.Family), t.Name, t.Flags)
		sets, err := c.GetSets(t)
		if err != nil {
			return fmt.Errorf("hoststate: listing the sets of nftables table %s %s: %w", nftFamily(t.Family), t.Name, err)
		}
		for _, set := range sets {
			s.Nftables = append(s.Nftables, setLines(c, set)...)
		}
		if objs, err := c.GetNamedObjects(t); err != nil {
			add("objects %s %s: unreadable: %v", nftFamily(t.Family), t.Name, err)
		} else {
			for _, o := range objs {
				if n, ok := o.(*nftables.NamedObj); ok {
					add("object %s %s %s type %d", nftFamily(t.Family), t.Name, n.Name, n.Type)
				} else {
					add("object %s %s %T", nftFamily(t.Family), t.Name, o)
				}
			}
		}
		if fts, err := c.ListFlowtables(t); err != nil {
			add("flowtables %s %s: unreadable: %v", nftFamily(t.Family), t.Name, err)
		} else {
			for _, ft := range fts {
				add("flowtable %s", flowtableLine(ft))
			}
		}
	}

	chains, err := c.ListChains()
	if err != nil {
		return fmt.Errorf("hoststate: listing nftables chains: %w", err)
	}
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return fmt.Errorf("hoststate: listing the rules of nftables chain %s: %w", chainName(ch), err)
		}
		handles := make([]string, 0, len(rules))
		for _, r := range rules {
			handles = append(handles, strconv.FormatUint(r.Handle, 10))
			add("rule %s handle %d:%s", chainName(ch), r.Handle, ruleExprs(ch.Table.Family, r))
		}
		add("chain %s%s rules [%s]", chainName(ch), chainHook(ch), strings.Join(handles, " "))
	}
	return nil
}

// unsupported reports an error that means the kernel has no nf_tables.
func unsupported(err error) bool {
	return errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EOPNOTSUPP)
}

func nftFamily(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyNetdev:
		return "netdev"
	case nftables.TableFamilyBridge:
		return "bridge"
	}
	return "family" + strconv.Itoa(int(f))
}

func chainName(ch *nftables.Chain) string {
	return nftFamily(ch.Table.Family) + " " + ch.Table.Name + " " + ch.Name
}

// chainHook describes a base chain's hook, priority, policy and device.
func chainHook(ch *nftables.Chain) string {
	var b strings.Builder
	if ch.Type != "" {
		fmt.Fprintf(&b, " type %s", ch.Type)
	}
	if ch.Hooknum != nil {
		fmt.Fprintf(&b, " hook %s", hookName(ch.Table.Family, uint32(*ch.Hooknum)))
	}
	if ch.Priority != nil {
		fmt.Fprintf(&b, " priority %d", *ch.Priority)
	}
	if ch.Policy != nil {
		p := "drop"
		if *ch.Policy == nftables.ChainPolicyAccept {
			p = "accept"
		}
		fmt.Fprintf(&b, " policy %s", p)
	}
	if ch.Device != "" {
		fmt.Fprintf(&b, " device %s", ch.Device)
	}
	return b.String()
}

// hookName names a base chain's hook as nft(8) does.
func hookName(fam nftables.TableFamily, hook uint32) string {
	var names []string
	switch fam {
	case nftables.TableFamilyNetdev:
		names = []string{"ingress", "egress"}
	case nftables.TableFamilyARP:
		names = []string{"input", "output", "forward"}
	default:
		names = []string{"prerouting", "input", "forward", "output", "postrouting", "ingress"}
	}
	if int(hook) < len(names) {
		return names[hook]
	}
	return "hook" + strconv.FormatUint(uint64(hook), 10)
}

// ruleExprs describes a rule's expressions by kind and netlink encoding,
// with the values that change by themselves (counters, quota consumed)
// zeroed; then its user data (where nft keeps comments).
func ruleExprs(fam nftables.TableFamily, r *nftables.Rule) string {
	var b strings.Builder
	for _, e := range r.Exprs {
		fmt.Fprintf(&b, " %s", exprString(fam, e))
	}
	if len(r.UserData) > 0 {
		fmt.Fprintf(&b, " userdata %x", r.UserData)
	}
	return b.String()
}

func exprString(fam nftables.TableFamily, e expr.Any) (out string) {
	switch v := e.(type) {
	case *expr.Counter:
		c := *v
		c.Bytes, c.Packets = 0, 0
		e = &c
	case *expr.Quota:
		q := *v
		q.Consumed = 0
		e = &q
	}
	kind := fmt.Sprintf("%T", e)
	if t := reflect.TypeOf(e); t != nil && t.Kind() == reflect.Pointer {
		kind = strings.ToLower(t.Elem().Name())
	}
	defer func() {
		// An expression the library cannot encode again: describe its fields.
		if p := recover(); p != nil {
			out = fmt.Sprintf("%s{%+v}", kind, e)
		}
	}()
	data, err := expr.Marshal(byte(fam), e)
	if err != nil {
		return fmt.Sprintf("%s{%+v}", kind, e)
	}
	return fmt.Sprintf("%s(%x)", kind, data)
}

// setLines describes a set and, when its contents are configuration (not
// filled or aged by the packet path), its elements.
func setLines(c *nftables.Conn, set *nftables.Set) []string {
	name := nftFamily(set.Table.Family) + " " + set.Table.Name + " " + set.Name
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{
		{set.Anonymous, "anonymous"}, {set.Constant, "constant"}, {set.Interval, "interval"},
		{set.AutoMerge, "automerge"}, {set.IsMap, "map"}, {set.HasTimeout, "timeout"},
		{set.Counter, "counter"}, {set.Dynamic, "dynamic"}, {set.Concatenation, "concat"},
	} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	line := fmt.Sprintf("set %s flags [%s] key %s/%d", name, strings.Join(flags, " "), set.KeyType.Name, set.KeyType.Bytes)
	if set.IsMap {
		line += fmt.Sprintf(" data %s/%d", set.DataType.Name, set.DataType.Bytes)
	}
	if set.Timeout != 0 {
		line += " timeout " + set.Timeout.String()
	}
	if set.Size != 0 {
		line += fmt.Sprintf(" size %d", set.Size)
	}
	if set.Comment != "" {
		line += fmt.Sprintf(" comment %q", set.Comment)
	}
	out := []string{line}
	if set.Dynamic || set.HasTimeout {
		return append(out, "elements "+name+": not recorded (the set changes by itself)")
	}
	elems, err := c.GetSetElements(set)
	if err != nil {
		return append(out, fmt.Sprintf("elements %s: unreadable: %v", name, err))
	}
	var el []string
	for _, e := range elems {
		s := fmt.Sprintf("element %s key %x", name, e.Key)
		if len(e.KeyEnd) > 0 {
			s += fmt.Sprintf(" keyend %x", e.KeyEnd)
		}
		if e.IntervalEnd {
			s += " interval-end"
		}
		if e.VerdictData != nil {
			s += fmt.Sprintf(" verdict %d chain %q", e.VerdictData.Kind, e.VerdictData.Chain)
		} else if len(e.Val) > 0 {
			s += fmt.Sprintf(" val %x", e.Val)
		}
		if e.Comment != "" {
			s += fmt.Sprintf(" comment %q", e.Comment)
		}
		el = append(el, s)
	}
	slices.Sort(el)
	return append(out, el...)
}

func flowtableLine(ft *nftables.Flowtable) string {
	s := nftFamily(ft.Table.Family) + " " + ft.Table.Name + " " + ft.Name
	if ft.Hooknum != nil {
		s += fmt.Sprintf(" hook %d", *ft.Hooknum)
	}
	if ft.Priority != nil {
		s += fmt.Sprintf(" priority %d", *ft.Priority)
	}
	devs := slices.Clone(ft.Devices)
	slices.Sort(devs)
	return s + fmt.Sprintf(" devices [%s] flags %#x", strings.Join(devs, " "), ft.Flags)
}
