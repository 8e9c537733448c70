package nettest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/taplink"
)

// Impairment degrades one direction of a link, as netem(8) does.
// Probabilities are fractions: 0.1 is 10%.
type Impairment struct {
	// Delay holds every packet this long.
	Delay time.Duration
	// Jitter varies the delay uniformly by up to this much either way;
	// packets then leave in the order of their delayed times, as with netem.
	Jitter time.Duration
	// Loss drops packets with this probability.
	Loss float64
	// LossCorrelation makes losses come in bursts: the random value that
	// decides each loss is this much the previous one (netem's model).
	LossCorrelation float64
	// Duplicate sends packets twice with this probability.
	Duplicate float64
	// Reorder sends packets at once, ahead of the delayed ones, with this
	// probability (needs Delay).
	Reorder float64
	// Corrupt flips one random bit of a packet with this probability.
	Corrupt float64
	// Rate limits the direction to this many bits per second (0: no limit);
	// up to a second's worth of packets wait in the queue.
	Rate uint64
	// Seed seeds the random source of the userspace mechanism, so that a
	// run's pattern of losses and delays is the same every time; 0 derives
	// it from the link's name.
	Seed int64
}

// Impairments are a link's two directions: AB from its A end to its B end.
type Impairments struct {
	AB, BA Impairment
}

// Both returns Impairments with the same impairment both ways.
func Both(i Impairment) Impairments { return Impairments{AB: i, BA: i} }

// IsZero reports whether the impairment changes nothing.
func (i Impairment) IsZero() bool { return i == Impairment{Seed: i.Seed} }

// String describes the impairment in netem's words: "delay 20ms jitter 5ms loss 10%".
func (i Impairment) String() string {
	var parts []string
	if i.Delay > 0 {
		parts = append(parts, "delay "+i.Delay.String())
	}
	if i.Jitter > 0 {
		parts = append(parts, "jitter "+i.Jitter.String())
	}
	pct := func(name string, p float64) {
		if p > 0 {
			parts = append(parts, fmt.Sprintf("%s %g%%", name, 100*p))
		}
	}
	pct("loss", i.Loss)
	pct("loss-correlation", i.LossCorrelation)
	pct("duplicate", i.Duplicate)
	pct("reorder", i.Reorder)
	pct("corrupt", i.Corrupt)
	if i.Rate > 0 {
		parts = append(parts, "rate "+formatRate(i.Rate))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func formatRate(bps uint64) string {
	switch {
	case bps >= 1e9 && bps%1e6 == 0:
		return fmt.Sprintf("%gGbit", float64(bps)/1e9)
	case bps >= 1e6 && bps%1e3 == 0:
		return fmt.Sprintf("%gMbit", float64(bps)/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%gkbit", float64(bps)/1e3)
	}
	return fmt.Sprintf("%dbit", bps)
}

// Mechanism names how a link's impairments are made.
type Mechanism string

// The mechanisms, in the order nettest prefers them.
const (
	// MechanismNone: a plain veth pair, nothing impaired.
	MechanismNone Mechanism = "none"
	// MechanismNetem: the netem queueing discipline on each end (when the
	// kernel has it): everything Impairment describes.
	MechanismNetem Mechanism = "netem"
	// MechanismKernel: without netem, the kernel still does random loss
	// (an nftables rule on the receiving end) and rate (a tbf queueing
	// discipline on the sending end); nothing else.
	MechanismKernel Mechanism = "tbf+nftables"
	// MechanismUserspace: the link's ends are TAP devices and a Go
	// forwarder in this process moves frames between them, applying
	// everything Impairment describes from a seeded random source, so that
	// a run's pattern is reproducible (netem's is not).
	MechanismUserspace Mechanism = "userspace"
)

// Validate reports what is wrong with the impairment (a probability outside
// 0..1, a jitter larger than the delay ...) as a *ConfigError naming the
// field at fault, or nil. It needs no privilege.
func (i Impairment) Validate() error {
	if field, err := i.validate(); err != nil {
		c := at("impairment "+i.String()).field(field, i.fieldValue(field))
		c.Problem = err.Error()
		return &c
	}
	return nil
}

// validate says what is wrong with the impairment, and the field at
// fault, or returns a nil error.
func (i Impairment) validate() (string, error) {
	for _, f := range []struct {
		field, name string
		p           float64
	}{{"Loss", "loss", i.Loss}, {"LossCorrelation", "loss correlation", i.LossCorrelation},
		{"Duplicate", "duplicate", i.Duplicate}, {"Reorder", "reorder", i.Reorder}, {"Corrupt", "corrupt", i.Corrupt}} {
		if f.p < 0 || f.p > 1 {
			return f.field, fmt.Errorf("%s %g is not a probability from 0 to 1 (write 10%% as 0.1)", f.name, f.p)
		}
	}
	switch {
	case i.Delay < 0:
		return "Delay", errors.New("negative delay or jitter")
	case i.Jitter < 0:
		return "Jitter", errors.New("negative delay or jitter")
	case i.Jitter > i.Delay:
		return "Jitter", fmt.Errorf("jitter %v is larger than the delay %v", i.Jitter, i.Delay)
	case i.Reorder > 0 && i.Delay == 0:
		return "Reorder", errors.New("reorder needs a delay (reordered packets are the ones not delayed)")
	case i.LossCorrelation > 0 && i.Loss == 0:
		return "LossCorrelation", errors.New("loss correlation needs a loss probability")
	}
	return "", nil
}

// fieldValue returns the value of one of the impairment's fields, by name.
func (i Impairment) fieldValue(field string) any {
	return reflect.ValueOf(i).FieldByName(field).Interface()
}

// kernelCan reports whether MechanismKernel can make the impairment.
func (i Impairment) kernelCan() bool {
	return i.Delay == 0 && i.Jitter == 0 && i.LossCorrelation == 0 && i.Duplicate == 0 && i.Reorder == 0 && i.Corrupt == 0
}

// mechanismFor is the one place that decides how a link's impairments
// are made. For a link being declared or built, requested is its ImpairVia:
// that mechanism if it can make imp, else an error; "" picks the best this
// kernel has that can (none for no impairment, netem, tbf+nftables,
// userspace). For a running link (running true), requested is the
// mechanism it has, which stays, except that a plain veth pair (none)
// takes the kernel's best. netem reports whether this kernel has sch_netem;
// it is asked only when the answer matters.
func mechanismFor(requested Mechanism, imp Impairments, netem func() bool, running bool) (Mechanism, error) {
	kernelOK := imp.AB.kernelCan() && imp.BA.kernelCan()
	zero := imp.AB.IsZero() && imp.BA.IsZero()
	if running {
		switch requested {
		case MechanismUserspace, MechanismNetem:
			return requested, nil
		case MechanismKernel:
			// Declared (or first made) with tbf and nftables: it stays so.
			if !kernelOK {
				return "", fmt.Errorf("%s needs netem or a userspace link (%w): declare the link with ImpairVia: %q", describeNeeds(imp), ErrUnsupported, MechanismUserspace)
			}
			return MechanismKernel, nil
		}
		// MechanismNone: a plain veth pair takes the kernel's best.
		switch {
		case zero:
			return MechanismNone, nil
		case netem():
			return MechanismNetem, nil
		case !kernelOK:
			return "", fmt.Errorf("%s needs netem, which this kernel lacks (%w), or a userspace link: declare the link with ImpairVia: %q", describeNeeds(imp), ErrUnsupported, MechanismUserspace)
		}
		return MechanismKernel, nil
	}
	switch requested {
	case "":
		switch {
		case zero:
			return MechanismNone, nil
		case netem():
			return MechanismNetem, nil
		case kernelOK:
			return MechanismKernel, nil
		}
		return MechanismUserspace, nil
	case MechanismNone:
		if !zero {
			return "", errors.New("mechanism none cannot impair anything")
		}
		return MechanismNone, nil
	case MechanismNetem:
		if !netem() {
			return "", fmt.Errorf("this kernel has no sch_netem: %w", ErrUnsupported)
		}
		return MechanismNetem, nil
	case MechanismKernel:
		if !kernelOK {
			return "", fmt.Errorf("mechanism %s does only random loss and rate; %s needs %q (or netem)", MechanismKernel, describeNeeds(imp), MechanismUserspace)
		}
		return MechanismKernel, nil
	case MechanismUserspace:
		return MechanismUserspace, nil
	}
	return "", fmt.Errorf("unknown mechanism %q (want %s, %s, %s or %s)", requested, MechanismNone, MechanismNetem, MechanismKernel, MechanismUserspace)
}

func describeNeeds(imp Impairments) string {
	var need []string
	for _, i := range []Impairment{imp.AB, imp.BA} {
		if i.Delay > 0 || i.Jitter > 0 {
			need = append(need, "delay")
		}
		if i.LossCorrelation > 0 {
			need = append(need, "correlated loss")
		}
		if i.Duplicate > 0 {
			need = append(need, "duplication")
		}
		if i.Reorder > 0 {
			need = append(need, "reordering")
		}
		if i.Corrupt > 0 {
			need = append(need, "corruption")
		}
	}
	if len(need) == 0 {
		return "it"
	}
	return strings.Join(compactStrings(need), ", ")
}

func compactStrings(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// netemAvailable reports whether the kernel has sch_netem, probing once.
func netemAvailable() bool {
	fs, err := DetectFeatures()
	return err == nil && fs.Supported(FeatureNetem)
}

// applyKernel installs the impairments of a veth link: netem, or tbf and
// nftables.
func (l *Link) applyKernel(m Mechanism, imp Impairments) error {
	for _, d := range []struct {
		from, to *Interface
		i        Impairment
	}{{l.a, l.b, imp.AB}, {l.b, l.a, imp.BA}} {
		var err error
		if m == MechanismNetem {
			err = d.from.setNetem(d.i)
		} else {
			if err = d.from.setRate(d.i.Rate); err == nil {
				err = d.to.setIngressLoss(d.i.Loss)
			}
		}
		if err != nil {
			return fmt.Errorf("nettest: link %s: impairing %s -> %s (%s): %w", l.p.name, d.from, d.to, d.i, err)
		}
	}
	return nil
}

// setNetem replaces the interface's root qdisc with netem (or removes it).
func (in *Interface) setNetem(i Impairment) error {
	attrs := netlink.QdiscAttrs{LinkIndex: in.index(), Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
	if i.IsZero() {
		return in.delRootQdisc()
	}
	q := netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
		Latency:     uint32(i.Delay.Microseconds()),
		Jitter:      uint32(i.Jitter.Microseconds()),
		Loss:        float32(100 * i.Loss),
		LossCorr:    float32(100 * i.LossCorrelation),
		Duplicate:   float32(100 * i.Duplicate),
		ReorderProb: float32(100 * i.Reorder),
		CorruptProb: float32(100 * i.Corrupt),
		Rate64:      i.Rate / 8,
	})
	return kernelError("netem", in.node.ns.nl.QdiscReplace(q))
}

// setRate puts a token bucket on the interface's egress (or removes it).
func (in *Interface) setRate(bps uint64) error {
	if bps == 0 {
		return in.delRootQdisc()
	}
	bytes := bps / 8
	mtu := uint64(max(in.p.mtu, 1500)) + 14
	// A burst of 50ms' worth, never less than two frames: tokens are not
	// lost when the qdisc's timer fires late on a busy machine, so the
	// long-term rate holds.
	burst := max(bytes/20, 2*mtu)
	q := &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: in.index(), Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       bytes,
		Buffer:     netlink.Xmittime(bytes, uint32(burst)), // the kernel takes the burst as a time
		Limit:      uint32(burst + max(bytes, 64<<10)),     // a second of queue, at least 64KiB: TCP keeps its pace
	}
	return kernelError("tbf", in.node.ns.nl.QdiscReplace(q))
}

func (in *Interface) delRootQdisc() error {
	q := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: in.index(), Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}, QdiscType: "tbf"}
	err := in.node.ns.nl.QdiscDel(q)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
		return nil // nothing there
	}
	return err
}

// impairTable is the nftables table, per node, of the loss rules.
const impairTable = "nettest-impair"

// setIngressLoss drops packets arriving on the interface with probability
// p, with an nftables rule in the node (or removes the rule).
func (in *Interface) setIngressLoss(p float64) error {
	if p == 0 && !in.lossRule {
		return nil // nothing installed: nftables need not even exist
	}
	// The descriptor stays open while the connection is used: it dials
	// its socket through it at each request.
	return in.node.ns.withFD(func(fd netns.NsHandle) error { return in.setIngressLossAt(int(fd), p) })
}

// setIngressLossAt is setIngressLoss with a descriptor of the node's namespace.
func (in *Interface) setIngressLossAt(fd int, p float64) error {
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return err
	}
	table := &nftables.Table{Family: nftables.TableFamilyNetdev, Name: impairTable}
	chainName := "loss-" + in.p.name
	// Start from nothing for this interface: delete its chain if present.
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyNetdev)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name == impairTable && ch.Name == chainName {
			c.FlushChain(ch)
			c.DelChain(ch)
		}
	}
	if p > 0 {
		c.AddTable(table)
		hook, prio := nftables.ChainHookIngress, nftables.ChainPriorityFilter
		ch := c.AddChain(&nftables.Chain{Name: chainName, Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: prio, Device: in.p.name})
		const scale = 1_000_000
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: []expr.Any{
			&expr.Numgen{Register: 1, Modulus: scale, Type: unix.NFT_NG_RANDOM},
			// cmp compares bytes in order: the number must be big-endian.
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(uint32(p * scale))},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	in.lossRule = p > 0
	return nil
}

// Mechanism returns how the link's impairments are made.
func (l *Link) Mechanism() Mechanism {
	l.net.mu.Lock()
	defer l.net.mu.Unlock()
	return l.mech
}

// Impairments returns the link's current impairments.
func (l *Link) Impairments() Impairments {
	l.net.mu.Lock()
	defer l.net.mu.Unlock()
	return l.impair
}

// Impair replaces the link's impairments, both directions, while the
// network runs. A plain veth link takes what the kernel can do (netem, or
// random loss and rate without it); a userspace link takes anything. What
// the link's mechanism cannot make is an error that says which mechanism
// would (declare it in the topology: LinkConfig.ImpairVia).
func (l *Link) Impair(imp Impairments) error {
	if err := l.p.checkImpair(imp); err != nil {
		return fmt.Errorf("nettest: %w", err)
	}
	return l.net.use("link "+l.p.name, func() error {
		l.net.mu.Lock()
		defer l.net.mu.Unlock()
		m, err := mechanismFor(l.mech, imp, netemAvailable, true)
		if err != nil {
			return fmt.Errorf("nettest: link %s: %w", l.p.name, err)
		}
		switch m {
		case MechanismUserspace:
			l.tap.Set(taplink.Impairment(imp.AB), taplink.Impairment(imp.BA), taplink.Seed(l.p.name))
		case MechanismNetem, MechanismKernel:
			if err := l.applyKernel(m, imp); err != nil {
				return err
			}
			l.mech = m
		}
		l.impair = imp
		return nil
	})
}

// Needs lists the kernel features the mechanism needs.
func (m Mechanism) Needs() []Feature {
	switch m {
	case MechanismNetem:
		return []Feature{FeatureNetem}
	case MechanismKernel:
		return []Feature{FeatureTBF, FeatureNFTables}
	case MechanismUserspace:
		return []Feature{FeatureTUN}
	}
	return nil
}

// ImpairmentMechanism says which mechanism a link's impairments get, as
// Build and Link.Impair decide it (one decision, mechanismFor): the one Build
// picks for the declared impairments with via as the link's ImpairVia, kept
// for the impairments set while it runs (later), on a kernel that has
// sch_netem or not. Tools that check a topology before building (nettest-run
// validate) use it with Mechanism.Needs to say what the kernel lacks.
func ImpairmentMechanism(via Mechanism, declared Impairments, later []Impairments, netem bool) (Mechanism, error) {
	has := func() bool { return netem }
	m, err := mechanismFor(via, declared, has, false)
	if err != nil {
		return "", err
	}
	for _, imp := range later {
		if m, err = mechanismFor(m, imp, has, true); err != nil {
			return "", err
		}
	}
	return m, nil
}
