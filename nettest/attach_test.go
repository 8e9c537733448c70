package nettest_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestAttachDetach: a command started with Detach outlives Close; Attach
// reopens the persisted topology without creating anything, and its nodes
// answer pings, reports and commands as the built ones did.
func TestAttachDetach(t *testing.T) {
	testenv.LockHostState(t)
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "persisting namespaces")
	testenv.RequireTools(t, "sleep", "hostname")
	topo, err := nettest.NewBuilder("attach"+strconv.Itoa(os.Getpid()%100000)).
		Host("h1", "h2").Router("r1").Chain("h1", "r1", "h2").Topology()
	if err != nil {
		t.Fatal(err)
	}
	n, err := nettest.Build(context.Background(), topo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Persist(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { nettest.RemovePersisted(topo.Name) })
	h2, _ := n.Node("h2")
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	sleeper := h2.Command("sleep", "600")
	sleeper.Detach, sleeper.Stdout = true, out
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	pid := sleeper.Pid()
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	bad := h2.Command("sleep", "1")
	bad.Detach, bad.Stdout = true, &strings.Builder{}
	if err := bad.Start(); err == nil || !strings.Contains(err.Error(), "must be nil or *os.File") {
		t.Errorf("a detached command writing to a pipe: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the detached command did not outlive Close: %v", err)
	}

	a, err := nettest.Attach(topo, topo.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h1, _ := a.Node("h1")
	dst, _ := a.Addr("h2", nettest.IPv6)
	if _, err := h1.Ping(context.Background(), dst); err != nil {
		t.Errorf("ping in the attached topology: %v", err)
	}
	var report strings.Builder
	if err := a.Report(&report); err != nil || !strings.Contains(report.String(), "== router r1") {
		t.Errorf("report: %v\n%s", err, report.String())
	}
	name, err := h1.Command("hostname").Output()
	if err != nil || string(name) != "h1\n" {
		t.Errorf("hostname in the attached h1: %q, %v", name, err)
	}
	link, _ := a.Link("h1-r1")
	if err := link.SetDown(); err != nil {
		t.Fatal(err)
	}
	if _, err := h1.Ping(context.Background(), dst, nettest.PingTimeout(100*time.Millisecond)); err == nil {
		t.Errorf("ping across a link that is down")
	}
	if err := link.SetUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h1.Ping(context.Background(), dst); err != nil {
		t.Errorf("ping after SetUp: %v", err)
	}
	if _, err := nettest.Attach(topo, "nosuch"); err == nil || !strings.Contains(err.Error(), "topology nosuch is not up") {
		t.Errorf("attaching to a topology that is not up: %v", err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}
