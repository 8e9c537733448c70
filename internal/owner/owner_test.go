package owner_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Private()
	os.Exit(m.Run())
}

// deadOwner returns the Owner of a process that has ended.
func deadOwner(t *testing.T) owner.Owner {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o := owner.Of(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if o.Start == 0 {
		t.Skip("the child ended before its start time could be read")
	}
	return o
}

func TestAlive(t *testing.T) {
	self := owner.Self()
	if !self.Alive() {
		t.Fatalf("owner.Self() = %+v is not alive", self)
	}
	if o := deadOwner(t); o.Alive() {
		t.Errorf("an ended process %+v is alive", o)
	}
	reused := self
	reused.Start++ // the same PID, started at another time: another process
	if reused.Alive() {
		t.Errorf("a PID with another start time counts as alive")
	}
	rebooted := self
	rebooted.Boot = "00000000-0000-0000-0000-000000000000"
	if rebooted.Alive() {
		t.Errorf("a record from another boot counts as alive")
	}
	if (owner.Owner{}).Alive() {
		t.Errorf("the zero Owner is alive")
	}
}

func TestReap(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, o *owner.Owner) string {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if o != nil {
			data, _ := json.Marshal(o)
			if err := os.WriteFile(filepath.Join(p, owner.MarkerFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(p, "file"), []byte("x"), 0o644)
		return p
	}
	dead, self := deadOwner(t), owner.Self()
	killed := mk("nettest-run-a-1", &dead)
	running := mk("nettest-run-b-2", &self)
	foreign := mk("nettest-run-c-3", nil)
	other := mk("other-4", &dead)
	target := mk("target", &dead)
	link := filepath.Join(dir, "nettest-run-link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	made, err := owner.MkdirTemp(dir, "nettest-run-d-")
	if err != nil {
		t.Fatal(err)
	}

	removed, skipped, err := owner.Reap(dir, "nettest-run-")
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != killed {
		t.Errorf("removed %v, want only %s", removed, killed)
	}
	for _, p := range []string{running, foreign, other, target, link, made} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[s.Path] = s.Reason
	}
	for p, want := range map[string]string{
		running: "in use by pid", foreign: "no owner record", link: "not a folder", made: "in use by pid",
	} {
		if r := reasons[p]; len(r) < len(want) || r[:len(want)] != want {
			t.Errorf("%s skipped for %q, want %q...", p, r, want)
		}
	}
}

// TestRecord: a record round-trips; a broken one names its file; a missing
// one is fs.ErrNotExist; no temporary file is left.
func TestRecord(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "r.json")
	in := owner.Self()
	if err := owner.WriteRecord(path, in); err != nil {
		t.Fatal(err)
	}
	var out owner.Owner
	if err := owner.ReadRecord(path, &out); err != nil || out != in {
		t.Fatalf("read back %+v, %v; want %+v", out, err, in)
	}
	if _, err := os.Stat(path + ".tmp"); err == nil {
		t.Errorf("the temporary file is left")
	}
	os.WriteFile(path, []byte("{"), 0o644)
	if err := owner.ReadRecord(path, &out); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a broken record: %v, want an error naming %s", err, path)
	}
	if err := owner.ReadRecord(filepath.Join(dir, "none"), &out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing record: %v", err)
	}
}

// TestZombieIsNotAlive: a process killed but not yet reaped by its parent
// (a zombie: it holds nothing any more) is not alive, though its PID and
// start time are still there.
func TestZombieIsNotAlive(t *testing.T) {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Skip("skipping: no sleep(1):", err)
	}
	defer cmd.Wait()
	o := owner.Of(cmd.Process.Pid)
	if !o.Alive() {
		t.Fatal("a running child is not alive")
	}
	cmd.Process.Kill()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if data, _ := os.ReadFile("/proc/" + strconv.Itoa(o.PID) + "/stat"); strings.Contains(string(data), ") Z ") {
			break
		}
	}
	if owner.StartTime(o.PID) != o.Start {
		t.Fatal("the zombie's start time is gone: this test cannot tell")
	}
	if o.Alive() {
		t.Error("a killed process not yet reaped (a zombie) is alive")
	}
}
