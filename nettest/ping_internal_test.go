package nettest

import (
	"context"
	"errors"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestRetryNoBuffers: a request the kernel has no buffer for is sent again,
// waiting longer each time, until it goes, or until its time is up (then
// the error says so); other errors are not retried.
func TestRetryNoBuffers(t *testing.T) {
	ctx := context.Background()
	calls := 0
	err := retryNoBuffers(ctx, time.Second, func() error {
		calls++
		if calls < 4 {
			return unix.ENOBUFS
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("got %v after %d sends, want nil after 4", err, calls)
	}

	calls = 0
	start := time.Now()
	err = retryNoBuffers(ctx, 50*time.Millisecond, func() error { calls++; return unix.ENOBUFS })
	if !errors.Is(err, unix.ENOBUFS) || time.Since(start) < 50*time.Millisecond || calls < 3 || calls > 10 {
		t.Fatalf("got %v after %d sends in %v, want ENOBUFS after 50ms and a few sends", err, calls, time.Since(start))
	}
	if want := "no buffer space available (the kernel had no buffer for it for 50ms)"; err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}

	calls = 0
	err = retryNoBuffers(ctx, time.Second, func() error { calls++; return unix.EHOSTUNREACH })
	if !errors.Is(err, unix.EHOSTUNREACH) || calls != 1 {
		t.Fatalf("got %v after %d sends, want EHOSTUNREACH after 1", err, calls)
	}
}

// TestArrival: a reply is judged by the time the kernel received it, from
// its SCM_TIMESTAMPNS control message, not by when it was read.
func TestArrival(t *testing.T) {
	at := time.Now().Add(-3 * time.Second).Truncate(time.Nanosecond)
	ts := unix.NsecToTimespec(at.UnixNano())
	oob := unix.UnixRights() // empty
	b := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(ts))))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
	h.SetLen(unix.CmsgLen(int(unsafe.Sizeof(ts))))
	*(*unix.Timespec)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = ts
	oob = append(oob, b...)
	if got := arrival(oob); !got.Equal(at) {
		t.Fatalf("arrival = %v, want %v", got, at)
	}
	if got := arrival(nil); time.Since(got) > time.Second {
		t.Fatalf("arrival without a timestamp = %v, want now", got)
	}
}
