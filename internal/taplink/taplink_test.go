package taplink_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/taplink"
	"github.com/nettestlab/nettest/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Private()
	os.Exit(m.Run())
}

// pair returns the two ends of a packet socket pair, which keeps frames
// whole as a TAP device does: the forwarder gets one, the test plays the
// node's stack on the other.
func pair(t *testing.T) (dev, stack *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	stack = os.NewFile(uintptr(fds[1]), "stack")
	t.Cleanup(func() { stack.Close() })
	return os.NewFile(uintptr(fds[0]), "dev"), stack
}

// link starts a forwarder with the impairment from A to B and returns the
// stacks of A and B.
func link(t *testing.T, ab taplink.Impairment) (a, b *os.File) {
	devA, a := pair(t)
	devB, b := pair(t)
	l := taplink.Start(devA, devB, ab, taplink.Impairment{}, taplink.Seed("a-b"))
	t.Cleanup(func() { l.Close() })
	return a, b
}

func frame(i int) []byte {
	f := make([]byte, 64)
	f[20] = byte(i)
	return f
}

// receive reads the frames that reach a stack within wait.
func receive(t *testing.T, f *os.File, wait time.Duration) [][]byte {
	t.Helper()
	var out [][]byte
	f.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, bytes.Clone(buf[:n]))
	}
}

func TestStraightThrough(t *testing.T) {
	a, b := link(t, taplink.Impairment{})
	for i := range 5 {
		a.Write(frame(i))
	}
	got := receive(t, b, 200*time.Millisecond)
	if len(got) != 5 {
		t.Fatalf("%d frames crossed, want 5", len(got))
	}
	for i, f := range got {
		if !bytes.Equal(f, frame(i)) {
			t.Errorf("frame %d changed or out of order: %v", i, f[:24])
		}
	}
	// The other way too.
	b.Write(frame(9))
	if got := receive(t, a, 200*time.Millisecond); len(got) != 1 {
		t.Errorf("B to A: %d frames, want 1", len(got))
	}
}

func TestDelay(t *testing.T) {
	a, b := link(t, taplink.Impairment{Delay: 100 * time.Millisecond})
	start := time.Now()
	a.Write(frame(1))
	b.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := b.Read(make([]byte, 2048)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 95*time.Millisecond {
		t.Errorf("a frame delayed 100ms crossed in %v", took)
	}
}

func TestLossDuplicateCorrupt(t *testing.T) {
	a, b := link(t, taplink.Impairment{Loss: 1})
	a.Write(frame(1))
	if got := receive(t, b, 100*time.Millisecond); len(got) != 0 {
		t.Errorf("loss 100%%: %d frames crossed", len(got))
	}
	a, b = link(t, taplink.Impairment{Duplicate: 1})
	a.Write(frame(1))
	if got := receive(t, b, 100*time.Millisecond); len(got) != 2 {
		t.Errorf("duplicate 100%%: %d frames crossed, want 2", len(got))
	}
	a, b = link(t, taplink.Impairment{Corrupt: 1})
	a.Write(frame(1))
	got := receive(t, b, 100*time.Millisecond)
	if len(got) != 1 {
		t.Fatalf("corrupt 100%%: %d frames crossed, want 1", len(got))
	}
	diff := 0
	for i, c := range got[0] {
		x := c ^ frame(1)[i]
		for ; x != 0; x &= x - 1 {
			diff++
		}
		if x := c ^ frame(1)[i]; x != 0 && i < 14 {
			t.Errorf("corrupt flipped a bit of the Ethernet header (byte %d)", i)
		}
	}
	if diff != 1 {
		t.Errorf("corrupt flipped %d bits, want 1", diff)
	}
}

// TestSeed: the same seed loses the same frames.
func TestSeed(t *testing.T) {
	pattern := func() []byte {
		a, b := link(t, taplink.Impairment{Loss: 0.5, Seed: 42})
		for i := range 40 {
			a.Write(frame(i))
		}
		var seen []byte
		for _, f := range receive(t, b, 200*time.Millisecond) {
			seen = append(seen, f[20])
		}
		return seen
	}
	first, second := pattern(), pattern()
	if len(first) == 0 || len(first) == 40 || !bytes.Equal(first, second) {
		t.Errorf("loss 50%% with seed 42 let %v and then %v through", first, second)
	}
}
