package lab

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Private()
	os.Exit(m.Run())
}

// writable skips a test that needs nettest's state folder when this process
// may not write under /run (rootless, say).
func writable(t *testing.T) {
	t.Helper()
	testenv.RequirePrivilege(t)
	testenv.SkipIfRootless(t, "nettest's state folder")
}

// name returns a lab name of this test process.
func name(t *testing.T) string {
	return "labtest" + strconv.Itoa(os.Getpid()%100000)
}

func TestCheckName(t *testing.T) {
	for _, bad := range []string{"", "..", "../x", "a/b", "-x", "x.json", "a b", "0123456789012345678901234567890123"} {
		if err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", bad, err)
		}
		if _, err := Read(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("Read(%q) = %v, want ErrBadName", bad, err)
		}
	}
	if err := CheckName("ok-name_1"); err != nil {
		t.Error(err)
	}
}

// TestClaim: a lab is claimed once; the claim is incomplete and owned by
// the caller; Remove undoes it.
func TestClaim(t *testing.T) {
	writable(t)
	n := name(t)
	st := &State{Name: n, Owner: owner.Self()}
	if err := st.Claim(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Remove() })
	if err := (&State{Name: n}).Claim(); !errors.Is(err, ErrExists) {
		t.Errorf("a second claim: %v, want ErrExists", err)
	}
	got, err := Read(n)
	if err != nil || got.Complete || got.Owner != st.Owner {
		t.Errorf("Read after Claim: %+v, %v", got, err)
	}
	if fi, err := os.Stat(FilesDir(n)); err != nil || !fi.IsDir() {
		t.Errorf("the files folder: %v", err)
	}
	if names, _ := Names(); !contains(names, n) {
		t.Errorf("Names() = %v, lacks %s", names, n)
	}
	if err := st.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{Path(n), FilesDir(n)} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after Remove: %v", p, err)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestReadRefusesOutsidePaths: a state file that names a process folder
// outside the lab's own is refused.
func TestReadRefusesOutsidePaths(t *testing.T) {
	writable(t)
	n := name(t)
	for _, dir := range []string{"/tmp", filepath.Join(FilesDir(n), ".."), FilesDir(n) + "x", "relative"} {
		st := &State{Name: n, Processes: []Process{{Name: "p", Dir: dir}}}
		if err := st.Write(); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(n); err == nil {
			t.Errorf("Read accepted a process folder %s", dir)
		}
	}
	os.Remove(Path(n))
	os.WriteFile(Path(n), []byte(`{"name": "other"}`), 0o644)
	t.Cleanup(func() { os.Remove(Path(n)) })
	if _, err := Read(n); err == nil {
		t.Errorf("Read accepted a state file that records another lab")
	}
}

// TestRemoveEndsOnlyRecordedProcesses: a recorded process whose PID now
// belongs to another process (another start time) is not signalled.
func TestRemoveEndsOnlyRecordedProcesses(t *testing.T) {
	writable(t)
	testenv.RequireTools(t, "sleep")
	n := name(t)
	ours := exec.Command("sleep", "600")
	other := exec.Command("sleep", "600")
	for _, c := range []*exec.Cmd{ours, other} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	rec := func(c *exec.Cmd, start uint64) Process {
		return Process{Name: "p", PID: c.Process.Pid, StartTime: start, Boot: owner.BootID(), Dir: FilesDir(n) + "/p"}
	}
	st := &State{Name: n, Complete: true, Processes: []Process{
		rec(ours, owner.StartTime(ours.Process.Pid)),
		rec(other, owner.StartTime(other.Process.Pid)+1), // the PID was reused since
	}}
	if err := st.Claim(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ours.Wait() }()
	if err := st.Remove(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Errorf("the recorded process still runs after Remove")
	}
	if owner.StartTime(other.Process.Pid) == 0 {
		t.Errorf("Remove ended a process whose PID matched but whose start time did not")
	}
}

// TestGone: a supervised lab is gone once its supervisor no longer runs;
// a lab without a supervisor never is.
func TestGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("skipping: no true(1):", err)
	}
	dead := owner.Owner{PID: cmd.Process.Pid, Start: 1, Boot: owner.BootID()}
	for _, c := range []struct {
		st   State
		gone bool
	}{
		{State{Supervised: true, Owner: owner.Self()}, false},
		{State{Supervised: true, Owner: dead}, true},
		{State{Owner: dead}, false},
	} {
		if got := c.st.Gone(); got != c.gone {
			t.Errorf("%+v: Gone() = %v, want %v", c.st, got, c.gone)
		}
	}
	if s, l := Socket("x"), Log("x"); filepath.Dir(s) != FilesDir("x") || filepath.Dir(l) != FilesDir("x") {
		t.Errorf("Socket %s and Log %s are not in the lab's folder %s", s, l, FilesDir("x"))
	}
}
