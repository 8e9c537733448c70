package packetsock_test

import (
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettestlab/nettest/internal/packetsock"
	"github.com/nettestlab/nettest/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Private()
	os.Exit(m.Run())
}

// TestLoopback opens a socket on the loopback of a network namespace of
// its own (needs privilege), sends a datagram over it and finds it once,
// as received, with a kernel timestamp.
func TestLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (a network namespace of its own)")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread leaves the host's namespace and dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		lo, err := net.InterfaceByName("lo")
		if err == nil {
			err = testenv.SetLinkUp("lo")
		}
		if err != nil {
			t.Error(err)
			return
		}
		sock, err := packetsock.Open(lo.Index, "lo")
		if err != nil {
			t.Error(err)
			return
		}
		defer sock.Close()
		conn, err := net.Dial("udp", "127.0.0.1:9")
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		before := time.Now()
		conn.Write([]byte("nettest packetsock"))
		var frames []packetsock.Frame
		buf, oob := make([]byte, 64<<10), make([]byte, 256)
		for deadline := time.Now().Add(2 * time.Second); len(frames) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			err := packetsock.Drain(int(sock.Fd()), buf, oob, true, func(f packetsock.Frame) error {
				f.Data = append([]byte(nil), f.Data...)
				frames = append(frames, f)
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
		// 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 18 bytes of payload.
		var seen int
		for _, f := range frames {
			if f.Length == 60 && string(f.Data[42:]) == "nettest packetsock" {
				seen++
				if f.Outgoing {
					t.Error("the loopback's frame is outgoing: the received copy was skipped")
				}
				if f.Time.Before(before.Add(-time.Second)) || f.Time.After(time.Now()) {
					t.Errorf("timestamp %v, sent at %v", f.Time, before)
				}
			}
		}
		if seen != 1 {
			t.Errorf("saw the datagram %d times in %d frames, want once", seen, len(frames))
		}
		if d := packetsock.Drops(int(sock.Fd())); d != 0 {
			t.Errorf("%d drops", d)
		}
	}()
	<-done
}
