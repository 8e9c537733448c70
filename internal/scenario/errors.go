package scenario

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
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

// Error returns one line per problem, except that of problems alike (see
// kind) only the first maxAlike are given, then one line at the next of
// them: "file:line:col: ... and 3,596 more like it (the last at line 20003)".
// Every problem stays in the slice.
func (es Errors) Error() string {
	type seen struct {
		n    int
		last *Error
	}
	kinds := map[string]*seen{}
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = e.File + "\x00" + kind(e.Msg)
		k := kinds[keys[i]]
		if k == nil {
			k = &seen{}
			kinds[keys[i]] = k
		}
		k.n++
		k.last = e
	}
	var b strings.Builder
	shown := map[string]int{}
	for i, e := range es {
		k := kinds[keys[i]]
		shown[keys[i]]++
		switch n := shown[keys[i]]; {
		case n <= maxAlike:
			b.WriteString(e.Error())
		case n == maxAlike+1:
			more := &Error{File: e.File, Pos: e.Pos, Msg: fmt.Sprintf("... and %s more like it (the last at line %d)", thousands(k.n-maxAlike), k.last.Pos.Line)}
			b.WriteString(more.Error())
		default:
			continue
		}
		b.WriteByte('\n')
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// maxAlike is how many problems of one kind Errors.Error lists.
const maxAlike = 20

// kind is what problems alike have in common: the message with what
// varies from one to the next taken out. Numbers, addresses and quoted
// text go ("a-b-17" is "a-b-#"), and the name after a word that names a
// thing (node, link, lan, process ...), so "link x: no free /30" and
// "link y: no free /30" are alike.
func kind(msg string) string {
	words := strings.Fields(msg)
	named := false
	for i, w := range words {
		switch {
		case named:
			words[i] = "_"
		case strings.ContainsAny(w, "\"'`"):
			words[i] = "_"
		case strings.ContainsAny(w, "0123456789"):
			words[i] = strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return '#'
				}
				return r
			}, w)
		}
		named = thingWords[strings.TrimSuffix(w, ":")]
	}
	return strings.Join(words, " ")
}

// thingWords are the words after which messages name a thing.
var thingWords = map[string]bool{
	"node": true, "link": true, "lan": true, "process": true, "endpoint": true, "interface": true,
	"end": true, "member": true, "capture": true, "partition": true, "sysctl": true, "gateway": true,
	"key": true, "parameter": true, "file": true,
}

// thousands writes n with commas: 3,596.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
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
