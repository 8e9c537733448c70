package testenv_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nettestlab/nettest/internal/testenv"
)

// TestLockHostState: the lock excludes the other tests of this process,
// and leaves no file behind (it used to leave /tmp/nettest-host-state.lock).
func TestLockHostState(t *testing.T) {
	lockFile := filepath.Join(os.TempDir(), "nettest-host-state.lock")
	if _, err := os.Stat(lockFile); err == nil {
		t.Skipf("skipping: %s exists already (left by an older test run?)", lockFile)
	}
	var inside, most atomic.Int32
	t.Run("group", func(t *testing.T) {
		for i := range 4 {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				t.Run("locked", func(t *testing.T) {
					testenv.LockHostState(t)
					n := inside.Add(1)
					if n > most.Load() {
						most.Store(n)
					}
					time.Sleep(20 * time.Millisecond)
					inside.Add(-1)
				})
			})
		}
	})
	if most.Load() != 1 {
		t.Errorf("%d tests held the lock at once", most.Load())
	}
	if _, err := os.Stat(lockFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LockHostState left %s (stat: %v)", lockFile, err)
	}
}
