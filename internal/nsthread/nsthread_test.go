package nsthread_test

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/hoststate"
	"github.com/nettestlab/nettest/internal/nsthread"
	"github.com/nettestlab/nettest/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// threadNetns names the calling thread's network namespace.
func threadNetns(t *testing.T) string {
	t.Helper()
	s, err := os.Readlink("/proc/thread-self/ns/net")
	require.NoError(t, err)
	return s
}

// TestRunJoinsAndReturns: fn runs in the namespace enter made, and no thread
// stays in it afterwards.
func TestRunJoinsAndReturns(t *testing.T) {
	testenv.RequirePrivilege(t)
	var outer, inner string
	var enterThread, fnThread int
	err := nsthread.Run(func() (func() error, error) {
		outer = threadNetns(t)
		enterThread = unix.Gettid()
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			orig.Close()
			return nil, err
		}
		return nsthread.RestoreTo(orig), nil
	}, func() error {
		inner = threadNetns(t)
		fnThread = unix.Gettid()
		return nil
	})
	require.NoError(t, err)
	assert.NotEqual(t, outer, inner, "fn ran in the namespace it started in")
	assert.Equal(t, enterThread, fnThread, "enter and fn ran on different threads")
	outside, err := hoststate.ThreadsOutside()
	require.NoError(t, err)
	assert.Empty(t, outside, "threads left in another namespace")
}

// TestRunEnterError: when enter fails, fn does not run, the restore enter
// returned still does, and the error reaches the caller.
func TestRunEnterError(t *testing.T) {
	errEnter := errors.New("enter failed")
	restored, ran := false, false
	err := nsthread.Run(func() (func() error, error) {
		return func() error { restored = true; return nil }, errEnter
	}, func() error { ran = true; return nil })
	require.ErrorIs(t, err, errEnter)
	assert.True(t, restored, "restore did not run")
	assert.False(t, ran, "fn ran after enter failed")
}

// TestRunRestoreError: a failed restore joins fn's error, and the thread it
// ran on never runs another goroutine. (The runtime ends such a thread, or
// parks it for good when it is the process's main thread.)
func TestRunRestoreError(t *testing.T) {
	errFn, errRestore := errors.New("fn failed"), errors.New("restore failed")
	var tid int
	err := nsthread.Run(func() (func() error, error) {
		tid = unix.Gettid()
		return func() error { return errRestore }, nil
	}, func() error { return errFn })
	require.ErrorIs(t, err, errFn)
	require.ErrorIs(t, err, errRestore)
	for range 200 {
		var again int
		require.NoError(t, nsthread.Run(func() (func() error, error) {
			again = unix.Gettid()
			return nil, nil
		}, nil))
		require.NotEqual(t, tid, again, "the thread of a failed restore ran another goroutine")
	}
}

// TestRunPanic: a panic in fn reaches the caller after restore ran.
func TestRunPanic(t *testing.T) {
	restored := false
	require.PanicsWithValue(t, "boom", func() {
		_ = nsthread.Run(func() (func() error, error) {
			return func() error { restored = true; return nil }, nil
		}, func() error { panic("boom") })
	})
	assert.True(t, restored, "restore did not run before the panic was re-raised")
}

// TestRunGoexit: runtime.Goexit in fn (t.FailNow) ends the caller's
// goroutine too, after restore ran.
func TestRunGoexit(t *testing.T) {
	restored, returned := false, false
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = nsthread.Run(func() (func() error, error) {
			return func() error { restored = true; return nil }, nil
		}, func() error { runtime.Goexit(); return nil })
		returned = true
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run hangs after runtime.Goexit")
	}
	assert.True(t, restored, "restore did not run")
	assert.False(t, returned, "Run returned after runtime.Goexit")
}

// TestRunNilFn: enter and restore alone.
func TestRunNilFn(t *testing.T) {
	entered, restored := false, false
	require.NoError(t, nsthread.Run(func() (func() error, error) {
		entered = true
		return func() error { restored = true; return nil }, nil
	}, nil))
	assert.True(t, entered)
	assert.True(t, restored)
}
