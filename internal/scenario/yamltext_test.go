package scenario_test

import (
	"strings"
	"testing"
)

// TestYAMLTextErrors: invalid UTF-8 and control characters are reported
// where they are (yaml.v3 says 1:1 whatever the line), a tab in the
// indentation says so, and a second document is an error, not ignored.
func TestYAMLTextErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"invalid UTF-8", pair + "description: caf\xe9 noir\nsteps: []\n", []string{"t.yaml:7:17: invalid UTF-8 (byte 0xe9): a scenario file is UTF-8 text"}},
		{"invalid UTF-8 on two lines", "name: p\xff\n" + pair[1:] + "description: \xc3\n", []string{
			"t.yaml:1:8: invalid UTF-8 (byte 0xff): a scenario file is UTF-8 text",
			"t.yaml:7:14: invalid UTF-8 (byte 0xc3): a scenario file is UTF-8 text",
		}},
		{"control character", pair + "description: a\x00b\n", []string{`t.yaml:7:15: control character '\x00': not allowed in a scenario file`}},
		{"tab indentation", "name: p\ntopology:\n  nodes: [a, b]\n\tlinks: []\n", []string{"t.yaml:4:1: tabs are not allowed for indentation, use spaces (YAML: found character that cannot start any token)"}},
		{"tab after spaces", "name: p\ntopology:\n  nodes:\n  \t- a\n", []string{"t.yaml:4:3: tabs are not allowed for indentation, use spaces (YAML: found character that cannot start any token)"}},
		{"second document", pair + "steps: []\n---\nname: q\n", []string{"t.yaml:8:1: a second YAML document (after ---): a scenario file holds one scenario; put each in a file of its own"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseErrs(t, tc.src, nil)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	// Fine: a tab inside a block of text, an empty document after ---, a
	// document end marker, UTF-8 text.
	for _, src := range []string{
		pair + "steps:\n  - exec:\n      node: a\n      command: |\n        echo a\n        \techo b\n",
		pair + "description: café ☕\nsteps: []\n---\n# nothing more\n",
		pair + "steps: []\n...\n",
	} {
		if got := parseErrs(t, src, nil); got != nil {
			t.Errorf("%q: %s", src, strings.Join(got, "\n"))
		}
	}
}
