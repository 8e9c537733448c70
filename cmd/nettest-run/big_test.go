package main

import (
	"strings"
	"testing"
)

// TestValidateBigFile: validate refuses a file over --max-size before
// reading it, naming the file, its size and the flag (exit 2); with the
// flag raised it reads it, and of its 3,616 problems alike it prints 20
// and a summary.
func TestValidateBigFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: big\ntopology:\n  nodes: [a, b]\n  links:\n")
	for range 20000 {
		b.WriteString("    - endpoints: [a, b]\n")
	}
	b.WriteString("steps:\n  - ping: {from: a, to: b}\n")
	file := scenarioFile(t, "big.yaml", b.String())

	_, errOut, code := cli(t, "", "validate", "--max-size", "100KiB", file)
	want := file + ":1:1: the file is 468.8 KiB (480,079 bytes), more than the 100 KiB a scenario file may be: raise the limit with --max-size (--max-size 1MiB)"
	if code != 2 || strings.TrimSpace(errOut) != want {
		t.Errorf("validate --max-size 100KiB: exit %d, printed\n%s\nwant exit 2 and\n%s", code, errOut, want)
	}
	for _, cmd := range []string{"run", "up", "graph"} {
		if _, errOut, code := cli(t, "", cmd, "--max-size", "100KiB", file); code != 2 || !strings.Contains(errOut, "--max-size 1MiB") {
			t.Errorf("%s --max-size 100KiB: exit %d, want 2 naming the flag", cmd, code)
		}
	}

	_, errOut, code = cli(t, "", "validate", file)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 2 || len(lines) != 21 || lines[20] != file+":16409:7: ... and 3,596 more like it (the last at line 20004)" {
		t.Errorf("validate: exit %d, %d lines, last %q", code, len(lines), lines[len(lines)-1])
	}
	if _, errOut, code := cli(t, "", "validate", "--max-size", "lots", file); code != 2 || !strings.Contains(errOut, `size "lots": want a positive number of bytes`) {
		t.Errorf("--max-size lots: exit %d", code)
	}
}
