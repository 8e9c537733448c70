package nettest

import "sync"

// life guards a Network's file descriptors against Close: every use of a
// namespace's descriptors or netlink sockets holds it, and Close waits for
// those uses to end before it closes anything. Without it a call racing
// Close could use a descriptor number the process has since reused for
// something else, such as another test's namespace.
type life struct {
	mu     sync.Mutex
	idle   sync.Cond
	closed bool
	busy   int
}

// acquire marks the start of a use; false once Close has begun.
func (l *life) acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.busy++
	return true
}

// release marks the end of a use.
func (l *life) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busy--
	if l.busy == 0 && l.idle.L != nil {
		l.idle.Broadcast()
	}
}

// end refuses new uses and waits for the current ones to finish.
func (l *life) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.idle.L = &l.mu
	for l.busy > 0 {
		l.idle.Wait()
	}
}
