package nettest

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// cmdLog keeps a command's output, line by line, and lets callers wait for
// a line. It keeps the last maxLog bytes; lines are numbered from the
// command's first, so a wait never misses or repeats one.
type cmdLog struct {
	mu       sync.Mutex
	cond     *sync.Cond
	lines    []string
	first    int // the number of lines dropped from the front
	size     int
	closed   bool
	mirrorMu sync.Mutex // stdout's and stderr's lines reach the mirror whole
}

// maxLog bounds what a command's log keeps (the oldest lines go first);
// Stdout and Stderr get everything.
const maxLog = 16 << 20

func newCmdLog() *cmdLog {
	l := &cmdLog{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *cmdLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	l.size += len(line) + 1
	for l.size > maxLog && len(l.lines) > 1 {
		l.size -= len(l.lines[0]) + 1
		l.lines[0] = ""
		l.lines = l.lines[1:]
		l.first++
	}
	l.cond.Broadcast()
}

// close marks the end of the output.
func (l *cmdLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.cond.Broadcast()
}

func (l *cmdLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, line := range l.lines {
		b.WriteString(line + "\n")
	}
	return b.String()
}

func (l *cmdLog) lastLine() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastLocked()
}

func (l *cmdLog) lastLocked() string {
	if len(l.lines) == 0 {
		return "(none)"
	}
	return strconv.Quote(l.lines[len(l.lines)-1])
}

func (l *cmdLog) wait(ctx context.Context, re *regexp.Regexp, what string) error {
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.cond.Broadcast()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	next := l.first // the number of the next line to look at
	for {
		for next = max(next, l.first); next < l.first+len(l.lines); next++ {
			if re.MatchString(l.lines[next-l.first]) {
				return nil
			}
		}
		switch {
		case l.closed:
			return fmt.Errorf("%s: no output line matched %q before the command ended; last line: %s", what, re, l.lastLocked())
		case ctx.Err() != nil:
			return fmt.Errorf("%s: no output line matched %q: %w; last line: %s", what, re, ctx.Err(), l.lastLocked())
		}
		l.cond.Wait()
	}
}

// lineWriter cuts a stream into lines for the log and the mirror. A line
// longer than maxLine is cut; a partial last line is emitted by flush.
type lineWriter struct {
	emit   func(string)
	mirror io.Writer
	mu     *sync.Mutex // guards mirror, shared by a command's two streams
	buf    []byte
}

const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == '\n' || len(w.buf) >= maxLine {
			w.line()
			if b == '\n' {
				continue
			}
		}
		w.buf = append(w.buf, b)
	}
	return len(p), nil
}

func (w *lineWriter) line() {
	s := strings.TrimSuffix(string(w.buf), "\r")
	w.buf = w.buf[:0]
	w.emit(s)
	if w.mirror != nil {
		w.mu.Lock()
		io.WriteString(w.mirror, s+"\n")
		w.mu.Unlock()
	}
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.line()
	}
}

// syncBuilder is a strings.Builder safe for two writers.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
