package hoststate

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/testenv"
)

// --- Diff on hand-made states: no privilege needed. ---

func sample() *State {
	return &State{
		Links: []string{
			"1 lo type device <UP,LOOPBACK> mtu 65536 txqlen 1000",
			"2 eth0 type device <UP,BROADCAST,MULTICAST> mtu 1500 mac 02:00:00:00:00:01 txqlen 1000",
		},
		Addrs:  []string{"eth0 inet 192.0.2.2/24 brd 192.0.2.255 scope global label eth0 permanent"},
		Routes: []string{"table main inet unicast default proto boot scope universe metric 0 dev eth0 via 192.0.2.1", "table main inet unicast 192.0.2.0/24 proto kernel scope link metric 0 dev eth0 src 192.0.2.2"},
		Rules:  []string{"inet prio 0 from all lookup local", "inet prio 32766 from all lookup main"},
		Sysctls: []string{
			"net.ipv4.conf.all.rp_filter = 0",
			"net.ipv4.ip_forward = 0",
		},
		NamedNetns: []string{"entry keep", "mount /run/netns/keep net:[4026532000] nsfs"},
	}
}

func TestDiffEqual(t *testing.T) {
	require.Empty(t, Diff(sample(), sample()))
	require.Empty(t, Diff(nil, &State{}))
	require.Empty(t, Diff(&State{}, nil))
}

func TestDiffLinkAdded(t *testing.T) {
	after := sample()
	veth := "7 veth0 type veth <UP,BROADCAST,MULTICAST> mtu 1500 mac 02:00:00:00:00:07 txqlen 1000"
	after.Links = append(after.Links, veth)
	d := Diff(sample(), after)
	require.Equal(t, "links: 0 removed, 1 added\n  + "+veth+"\n", d)
}

func TestDiffRouteRemoved(t *testing.T) {
	after := sample()
	gone := after.Routes[0]
	after.Routes = after.Routes[1:]
	d := Diff(sample(), after)
	require.Equal(t, "routes: 1 removed, 0 added\n  - "+gone+"\n", d)
}

func TestDiffSysctlChanged(t *testing.T) {
	after := sample()
	after.Sysctls[1] = "net.ipv4.ip_forward = 1"
	d := Diff(sample(), after)
	require.Equal(t, "sysctls: 1 removed, 1 added\n"+
		"  - net.ipv4.ip_forward = 0\n"+
		"  + net.ipv4.ip_forward = 1\n", d)
}

func TestDiffSeveralCategories(t *testing.T) {
	after := sample()
	after.Rules = append(after.Rules, "inet prio 100 from 10.0.0.0/8 lookup 100")
	after.Nftables = []string{"table inet nettest flags 0x0"}
	after.NamedNetns = nil
	d := Diff(sample(), after)
	// Categories come in the State's order, each with its own header.
	require.Equal(t, "rules: 0 removed, 1 added\n"+
		"  + inet prio 100 from 10.0.0.0/8 lookup 100\n"+
		"nftables: 0 removed, 1 added\n"+
		"  + table inet nettest flags 0x0\n"+
		"named netns: 2 removed, 0 added\n"+
		"  - entry keep\n"+
		"  - mount /run/netns/keep net:[4026532000] nsfs\n", d)
}

func TestDiffCountsDuplicates(t *testing.T) {
	before := &State{Routes: []string{"r", "r"}}
	after := &State{Routes: []string{"r"}}
	require.Equal(t, "routes: 1 removed, 0 added\n  - r\n", Diff(before, after))
}

func TestString(t *testing.T) {
	s := sample().String()
	require.Contains(t, s, "links (2):\n  1 lo ")
	require.Contains(t, s, "nftables (0):\n")
	require.Contains(t, s, "  net.ipv4.ip_forward = 0\n")
	require.Contains(t, (*State)(nil).String(), "routes (0):")
}

func TestSysctlName(t *testing.T) {
	require.Equal(t, "net.ipv4.ip_forward", sysctlName("net/ipv4/ip_forward"))
	require.Equal(t, "net.ipv4.conf.eth0/10.rp_filter", sysctlName("net/ipv4/conf/eth0.10/rp_filter"))
}

func TestUnescapeMount(t *testing.T) {
	require.Equal(t, "/run/netns/a b", unescapeMount(`/run/netns/a\040b`))
	require.Equal(t, `/run/netns/x\0`, unescapeMount(`/run/netns/x\0`))
	require.Equal(t, "/run/netns/plain", unescapeMount("/run/netns/plain"))
}

// --- Snapshots of real namespaces: privilege needed. ---

// newNamespace creates an anonymous network namespace, held by the returned
// handle until the test ends. The thread that creates it goes back to its
// namespace before it is unlocked (or dies, should that fail).
func newNamespace(t *testing.T) netns.NsHandle {
	t.Helper()
	var ns netns.NsHandle
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return err
		}
		var err error
		ns, err = netns.Get()
		return err
	})
	require.NoError(t, err, "creating a network namespace")
	t.Cleanup(func() { ns.Close() })
	return ns
}

// onThread runs fn on a goroutine locked to its OS thread, which fn may move
// to another network namespace: the thread goes back afterwards, or dies.
func onThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer orig.Close()
		err = fn()
		if rerr := netns.Set(orig); rerr != nil {
			done <- errors.Join(err, rerr) // still locked: the thread dies
			return
		}
		runtime.UnlockOSThread()
		done <- err
	}()
	return <-done
}

func nsPath(ns netns.NsHandle) string { return fmt.Sprintf("/proc/self/fd/%d", int(ns)) }

func randomSuffix(t *testing.T) string {
	var b [4]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

func TestTakeHostIsStable(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	a, err := Take()
	require.NoError(t, err)
	b, err := Take()
	require.NoError(t, err)
	require.Empty(t, Diff(a, b), "two snapshots of a quiet host")
	t.Logf("host snapshot:\n%s", a)

	require.NotEmpty(t, a.Links)
	require.Contains(t, strings.Join(a.Links, "\n"), " lo type ")
	require.Contains(t, a.Sysctls, "net.ipv4.ip_forward = "+readTrimmed(t, "/proc/sys/net/ipv4/ip_forward"))
	if strings.Contains(strings.Join(a.Links, "\n"), " lo type device <UP,") {
		// Routes of every table: with lo up, the local table holds 127.0.0.1.
		require.Contains(t, strings.Join(a.Routes, "\n"), "table local inet local 127.0.0.1/32")
	}
	require.Contains(t, strings.Join(a.Rules, "\n"), "inet prio 32766 from all lookup main")

	threads, err := ThreadsOutside()
	require.NoError(t, err)
	require.Empty(t, threads)
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Join(strings.Fields(string(b)), " ")
}

// TestTakeNotFooledByThread puts a thread of the process into another
// namespace, as a bug in the engine could, and takes the snapshot from that
// very thread: it must still describe the host, and ThreadsOutside must
// name the thread.
func TestTakeNotFooledByThread(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	other := newNamespace(t)
	want, err := Take()
	require.NoError(t, err)

	var got *State
	var outside []string
	var threadsErr error
	var tid int
	takeErr := onThread(func() error {
		tid = unix.Gettid()
		if err := netns.Set(other); err != nil {
			return err
		}
		var err error
		got, err = Take()
		outside, threadsErr = ThreadsOutside()
		return err
	})
	require.NoError(t, takeErr)
	require.NoError(t, threadsErr)
	require.Empty(t, Diff(want, got), "a snapshot taken from a thread inside another namespace")
	require.Len(t, outside, 1, "this thread, and no other")
	require.True(t, strings.HasPrefix(outside[0], fmt.Sprintf("%d: net:[", tid)), outside[0])

	// Back in its namespace, the thread is not reported any more.
	outside, err = ThreadsOutside()
	require.NoError(t, err)
	require.Empty(t, outside)
}

// TestSnapshotSeesEveryCategory configures a private namespace, never the
// host's, and checks that each category of the snapshot records the change,
// and that traffic bumping an nftables counter does not.
func TestSnapshotSeesEveryCategory(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	ns := newNamespace(t)
	before, err := take(ns)
	require.NoError(t, err)
	require.Empty(t, before.Addrs, "a new namespace has no address (lo is down)")

	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	require.NoError(t, err)
	defer h.Close()
	lo, err := h.LinkByName("lo")
	require.NoError(t, err)
	require.NoError(t, h.LinkSetUp(lo))
	require.NoError(t, h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "hs0", MTU: 1400}, PeerName: "hs1"}))
	veth, err := h.LinkByName("hs0")
	require.NoError(t, err)
	require.NoError(t, h.LinkSetUp(veth))
	addr4, err := netlink.ParseAddr("198.18.77.1/24")
	require.NoError(t, err)
	require.NoError(t, h.AddrAdd(veth, addr4))
	addr6, err := netlink.ParseAddr("fdf6:fd81:8f7e:77::1/64")
	require.NoError(t, err)
	addr6.Flags = unix.IFA_F_NODAD
	require.NoError(t, h.AddrAdd(veth, addr6))
	_, dst, _ := net.ParseCIDR("198.51.100.0/24")
	require.NoError(t, h.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP("198.18.77.2"), Table: 100, LinkIndex: veth.Attrs().Index}))
	rule := netlink.NewRule()
	rule.Priority, rule.Table, rule.Src = 1000, 100, &net.IPNet{IP: net.ParseIP("198.18.77.0").To4(), Mask: net.CIDRMask(24, 32)}
	require.NoError(t, h.RuleAdd(rule))
	require.NoError(t, inNamespace(ns, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
	}))

	nft, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	require.NoError(t, err)
	table := nft.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "hoststate"})
	policy := nftables.ChainPolicyAccept
	chain := nft.AddChain(&nftables.Chain{
		Name: "out", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	nft.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{&expr.Counter{}}})
	set := &nftables.Set{Table: table, Name: "ports", KeyType: nftables.TypeInetService}
	require.NoError(t, nft.AddSet(set, []nftables.SetElement{{Key: []byte{0, 80}}, {Key: []byte{1, 187}}}))
	require.NoError(t, nft.Flush())

	// The kernel adds an IPv6 address's local route from a work queue, a
	// moment after AddrAdd returns: wait for it, so that the snapshot below
	// is of a settled namespace and the counter check sees only the counter.
	after := settled(t, ns)
	d := Diff(before, after)
	t.Logf("diff:\n%s", d)
	for _, want := range []string{
		"links: 1 removed, 3 added\n", // lo changed (now UP), hs0 and hs1 are new
		" hs0 type veth <UP,BROADCAST,MULTICAST> mtu 1400 mac ",
		" hs1 type veth <BROADCAST,MULTICAST> mtu 1400 mac ",
		"+ hs0 inet 198.18.77.1/24 brd 198.18.77.255 scope global label hs0 permanent",
		"+ hs0 inet6 fdf6:fd81:8f7e:77::1/64 scope global nodad permanent",
		"+ lo inet 127.0.0.1/8 scope host label lo permanent",
		"+ table 100 inet unicast 198.51.100.0/24 proto boot scope global metric 0 dev hs0 via 198.18.77.2",
		"+ table main inet unicast 198.18.77.0/24 proto kernel scope link metric 0 dev hs0 src 198.18.77.1",
		"+ table main inet6 unicast fdf6:fd81:8f7e:77::/64 proto kernel scope global metric 256 dev hs0",
		"+ table local inet6 local fdf6:fd81:8f7e:77::1/128 proto kernel scope global metric 0 dev hs0",
		"+ inet prio 1000 from 198.18.77.0/24 lookup 100",
		"- net.ipv4.ip_forward = 0\n",
		"+ net.ipv4.ip_forward = 1\n",
		"+ table inet hoststate flags 0x0",
		"+ chain inet hoststate out type filter hook output priority 0 policy accept rules [",
		"+ rule inet hoststate out handle ",
		": counter(",
		"+ set inet hoststate ports flags [] key inet_service/2",
		"+ element inet hoststate ports key 0050",
		"+ element inet hoststate ports key 01bb",
	} {
		assert.Contains(t, d, want)
	}
	assert.Contains(t, strings.Join(after.Sysctls, "\n"), "net.ipv4.conf.hs0.forwarding = ")

	// Traffic through the counted chain changes the counter, not the snapshot.
	require.NoError(t, inNamespace(ns, func() error {
		c, err := net.Dial("udp", "198.18.77.1:9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hoststate"))
		return err
	}))
	rules, err := nft.GetRules(table, chain)
	require.NoError(t, err)
	require.Len(t, rules, 1)
	require.NotZero(t, rules[0].Exprs[0].(*expr.Counter).Packets, "the test's packet went through the chain")
	again, err := take(ns)
	require.NoError(t, err)
	require.Empty(t, Diff(after, again), "counters are not state")
}

// settled takes snapshots of ns until the IPv6 address's local route, which
// the kernel installs asynchronously, is there, and returns that snapshot.
func settled(t *testing.T, ns netns.NsHandle) *State {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := take(ns)
		require.NoError(t, err)
		if strings.Contains(strings.Join(s.Routes, "\n"), "table local inet6 local fdf6:fd81:8f7e:77::1/128") {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the local route of fdf6:fd81:8f7e:77::1 did not appear in 5s; routes:\n%s", strings.Join(s.Routes, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// makeNamedNetns bind-mounts a new anonymous namespace at /run/netns/name,
// as `ip netns add` does, and returns a function that removes exactly what
// it made.
func makeNamedNetns(t *testing.T, name string) (remove func()) {
	t.Helper()
	require.True(t, strings.HasPrefix(name, "nettest-hoststate-test-"))
	ns := newNamespace(t)
	createdDir := false
	if _, err := os.Stat(netnsDir); errors.Is(err, fs.ErrNotExist) {
		require.NoError(t, os.Mkdir(netnsDir, 0o755))
		createdDir = true
	}
	target := netnsDir + "/" + name
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	require.NoError(t, err)
	f.Close()
	var once sync.Once
	remove = func() {
		once.Do(func() {
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				t.Errorf("unmounting %s: %v", target, err)
			}
			if err := os.Remove(target); err != nil {
				t.Errorf("removing %s: %v", target, err)
			}
			if createdDir {
				os.Remove(netnsDir) // only if still empty
			}
		})
	}
	t.Cleanup(remove)
	require.NoError(t, unix.Mount(nsPath(ns), target, "none", unix.MS_BIND, ""), "bind-mounting the namespace")
	return remove
}

// TestDiffSeesNamedNetns proves that a snapshot can fail: a named namespace
// made between two snapshots shows in the Diff, and the Diff is empty again
// once it is removed. Nothing changes in the host's network namespace.
func TestDiffSeesNamedNetns(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "naming a namespace under /run/netns")
	name := "nettest-hoststate-test-" + randomSuffix(t)
	before, err := Take()
	require.NoError(t, err)

	remove := makeNamedNetns(t, name)
	during, err := Take()
	require.NoError(t, err)
	d := Diff(before, during)
	require.Contains(t, d, "named netns: 0 removed, 2 added\n")
	require.Contains(t, d, "  + entry "+name+"\n")
	require.Contains(t, d, "  + mount "+netnsDir+"/"+name+" net:[")

	remove()
	after, err := Take()
	require.NoError(t, err)
	require.Empty(t, Diff(before, after), "after removing %s (other tests making nettest-* namespaces at the same time would show here)", name)
}

// recorder is a testing.TB that keeps what Check reports.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.TB.Fatalf("Check failed at its first snapshot: "+format, args...)
}

func TestCheck(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "naming a namespace under /run/netns")

	quiet := &recorder{TB: t}
	Check(quiet)()
	require.Empty(t, quiet.errs, "nothing changed")

	name := "nettest-hoststate-test-" + randomSuffix(t)
	loud := &recorder{TB: t}
	done := Check(loud)
	remove := makeNamedNetns(t, name)
	done()
	remove()
	require.Len(t, loud.errs, 1)
	require.Contains(t, loud.errs[0], "the host's network state changed")
	require.Contains(t, loud.errs[0], "+ entry "+name)
}
