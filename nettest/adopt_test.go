package nettest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/owner"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/nettestlab/nettest/nettest"
)

// TestAdopt: a detached command's Adopt sees the shim's PID before the
// command starts, and an error from it ends the shim and fails Start.
func TestAdopt(t *testing.T) {
	testenv.RequirePrivilege(t)
	testenv.RequireTools(t, "sleep")
	n, err := nettest.NewBuilder("").Host("h1").Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h1, _ := n.Node("h1")

	var adopted int
	c := h1.Command("sleep", "600")
	c.Detach = true
	c.Adopt = func(pid int) error { adopted = pid; return nil }
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(c.Pid(), syscall.SIGKILL)
	if adopted == 0 || adopted != c.Pid() {
		t.Errorf("Adopt saw pid %d, the command's shim is %d", adopted, c.Pid())
	}

	var refused int
	bad := h1.Command("sleep", "600")
	bad.Detach = true
	bad.Adopt = func(pid int) error { refused = pid; return errors.New("no room in the record") }
	err = bad.Start()
	if err == nil || !strings.Contains(err.Error(), "no room in the record") {
		t.Fatalf("Start with a failing Adopt: %v", err)
	}
	if refused == 0 || owner.StartTime(refused) != 0 {
		t.Errorf("the refused shim (pid %d) still runs", refused)
	}
}

// adoptKillHelper starts a detached command whose Adopt prints the shim's
// PID and never returns, as if the process were killed while recording.
func adoptKillHelper() {
	n, err := nettest.NewBuilder("").Host("h1").Build(context.Background())
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	h1, _ := n.Node("h1")
	c := h1.Command("sleep", os.Getenv("NETTEST_ADOPT_MARKER"))
	c.Detach = true
	c.Adopt = func(pid int) error {
		fmt.Printf("shim %d\n", pid)
		select {}
	}
	fmt.Println("error:", c.Start())
	os.Exit(1)
}

// TestDetachedNeverRunsUnowned: a process killed (SIGKILL) after starting a
// detached command's shim but before recording it leaves nothing: the shim
// exits without starting the command.
func TestDetachedNeverRunsUnowned(t *testing.T) {
	testenv.RequirePrivilege(t)
	testenv.RequireTools(t, "sleep")
	marker := strconv.Itoa(600 + os.Getpid()%1000)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=adoptkill", "NETTEST_ADOPT_MARKER="+marker)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "shim ")))
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	shim := owner.Of(pid)
	if !shim.Alive() {
		t.Fatalf("shim %d is not running", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for shim.Alive() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if shim.Alive() {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the shim (pid %d) outlived the process that started it, unrecorded", pid)
	}
}
