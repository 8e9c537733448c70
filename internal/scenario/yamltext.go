package scenario

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// readYAML parses a file's one YAML document into its node tree, and
// reports at their line and column what yaml.v3 reports without one
// (invalid UTF-8, control characters) or unclearly (a tab in indentation),
// and a second document, which a scenario file does not have.
func readYAML(l *errList, data []byte) (*yaml.Node, bool) {
	if textProblems(l, data) {
		return nil, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return &root, true // empty
		}
		yamlError(l, data, err)
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		yamlError(l, data, err)
		return nil, false
	case len(next.Content) > 0 && !isNull(next.Content[0]):
		l.add(pos(&next), "a second YAML document (after ---): a scenario file holds one scenario; put each in a file of its own")
		return nil, false
	}
	return &root, true
}

// textProblems reports invalid UTF-8 and control characters, at their
// line and column (yaml.v3 gives neither). Files in UTF-16, with a byte
// order mark, are left to yaml.v3.
func textProblems(l *errList, data []byte) bool {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return false
	}
	found := false
	line, col := 1, 1
	badLine := 0 // one report per line
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1 && badLine != line:
			l.add(Pos{line, col}, "invalid UTF-8 (byte 0x%02x): a scenario file is UTF-8 text", data[i])
			found, badLine = true, line
		case (r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f) && badLine != line:
			l.add(Pos{line, col}, "control character %s: not allowed in a scenario file", strconv.QuoteRune(r))
			found, badLine = true, line
		}
		i += size
		col++
		if r == '\n' {
			line, col = line+1, 1
		}
	}
	return found
}

// yamlError reports yaml.v3's error, a line per problem. "found character
// that cannot start any token" on a line indented with a tab says so.
func yamlError(l *errList, data []byte, err error) {
	lines := bytes.Split(data, []byte("\n"))
	for _, msg := range strings.Split(err.Error(), "\n") {
		msg = strings.TrimSpace(msg)
		m := yamlLine.FindStringSubmatch(msg)
		if m == nil {
			if msg != "" {
				l.add(Pos{1, 1}, "%s", strings.TrimPrefix(msg, "yaml: "))
			}
			continue
		}
		n, _ := strconv.Atoi(m[1])
		p := Pos{n, 1}
		if n >= 1 && n <= len(lines) {
			text := lines[n-1]
			indent := text[:len(text)-len(bytes.TrimLeft(text, " \t"))]
			if tab := bytes.IndexByte(indent, '\t'); tab >= 0 {
				l.add(Pos{n, tab + 1}, "tabs are not allowed for indentation, use spaces (YAML: %s)", m[2])
				continue
			}
		}
		l.add(p, "%s", m[2])
	}
}
