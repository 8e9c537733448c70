package scenario

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a position in a scenario file: line and column, both from 1.
// The zero Pos means "the file as a whole".
type Pos struct {
	Line, Col int
}

// Error is one problem of a scenario file, at a position.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

// Error returns "file:line:col: message".
func (e *Error) Error() string {
	line, col := max(e.Pos.Line, 1), max(e.Pos.Col, 1)
	return fmt.Sprintf("%s:%d:%d: %s", e.File, line, col, e.Msg)
}

// Errors is every problem found in one or more files, in file order, then
// by position. Its Error is one "file:line:col: message" line per problem.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders the errors by position (stable: same position keeps the
// order found) and drops exact duplicates.
func (es Errors) sorted() Errors {
	out := slices.Clone(es)
	slices.SortStableFunc(out, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return slices.CompactFunc(out, func(a, b *Error) bool { return *a == *b })
}

// errList collects the errors of one file.
type errList struct {
	file string
	errs Errors
}

func (l *errList) add(p Pos, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.file, Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (l *errList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	return l.errs.sorted()
}
