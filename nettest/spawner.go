package nettest

import (
	"os/exec"
	"runtime"
	"sync"
)

// The spawner starts every command nettest runs, from one goroutine locked
// to its OS thread for the life of the process. A command's parent-death
// signal (PR_SET_PDEATHSIG) fires when the thread that forked it exits, not
// the process: forked from an ordinary goroutine's thread, a command could be
// killed whenever the Go runtime ended that thread. This thread never ends,
// so the signal fires only when the test process dies.
var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn starts cmd on the spawner's thread.
func spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread is the parent of every command
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnReq{cmd, done}
	return <-done
}
