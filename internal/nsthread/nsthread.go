// Package nsthread runs code on an OS thread that has been moved into
// another network namespace, and puts the thread back afterwards.
//
// A network namespace belongs to a thread, not to a process, and the Go
// runtime moves goroutines between threads: code that changes its thread's
// namespace must lock the goroutine to its thread first and, before
// unlocking, return the thread to the namespace it came from. When that
// return fails, the goroutine must exit still locked so that the runtime
// ends the thread instead of running other goroutines in the wrong
// namespace. Run does all of that; the nettest engine, the host-state
// snapshot and the benchmark baselines share it.
package nsthread

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Run runs enter and then fn on a new goroutine locked to its OS thread.
// enter changes the thread (joins or creates a namespace) and returns a
// function that puts it back (nil when it changed nothing); restore runs
// even when enter fails, if enter returned it. When restore fails, the
// goroutine exits still locked and the Go runtime ends the thread rather
// than reuse it. fn runs only if enter succeeded, and may be nil.
//
// A panic in fn is re-raised in the caller's goroutine once the thread is
// back, and a runtime.Goexit in fn (t.FailNow) ends the caller's goroutine
// too, as they would have without Run.
func Run(enter func() (restore func() error, err error), fn func() error) error {
	type result struct {
		err      error
		panicked bool
		panic    any
		goexit   bool // fn called runtime.Goexit (t.FailNow, say)
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var res result
		restore, err := enter()
		res.err = err
		finished := false
		// Runs however the goroutine ends: normally, or by runtime.Goexit
		// inside fn.
		defer func() {
			res.goexit = !finished
			if restore != nil {
				if rerr := restore(); rerr != nil {
					res.err = errors.Join(res.err, rerr)
					done <- res
					return // still locked: the thread dies with this goroutine
				}
			}
			runtime.UnlockOSThread()
			done <- res
		}()
		if err == nil && fn != nil {
			func() {
				defer func() {
					if p := recover(); p != nil {
						res.panicked, res.panic = true, p
					}
				}()
				res.err = fn()
			}()
		}
		finished = true
	}()
	res := <-done
	switch {
	case res.panicked:
		panic(res.panic)
	case res.goexit:
		runtime.Goexit()
	}
	return res.err
}

// RestoreTo returns a function, for Run's enter to return, that moves the
// calling thread back into orig and closes orig.
func RestoreTo(orig netns.NsHandle) func() error {
	return func() error {
		defer orig.Close()
		if err := netns.Set(orig); err != nil {
			return fmt.Errorf("returning the thread to its network namespace: %w", err)
		}
		return nil
	}
}
