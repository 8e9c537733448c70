package scenario_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/nettestlab/nettest/internal/scenario"
	"github.com/nettestlab/nettest/internal/testenv"
)

// TestSchemaValidatesExamples: every example scenario is valid by the JSON
// Schema, as an editor checks it (YAML read as JSON values), and a file
// the schema must refuse is refused.
func TestSchemaValidatesExamples(t *testing.T) {
	data, err := scenario.Schema()
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../examples/scenarios/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		if _, err := os.Stat("../../go.mod"); errors.Is(err, fs.ErrNotExist) {
			t.Skip("skipping: not run from the source tree")
		}
		t.Fatal("no examples/scenarios/*.yaml")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(src, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range testenv.SchemaProblems(schema, doc) {
			t.Errorf("%s: %s", filepath.Base(f), p)
		}
	}
	for _, bad := range []string{
		"topology: {nodes: [a]}\nsteps: [{ping: {from: a, to: a}, no-ping: {from: a, to: a}}]", // two actions
		"topology: {nodes: [a]}\nsteps: [{pong: {from: a, to: a}}]",                            // no such step
		"topology: {nodes: [a]}\nsteps: [{eventually: {within: 1s, step: {link-down: x}}}]",    // not a check
		"topology: {nodes: [a]}\nsteps: [{dial: {from: a, to: a, port: 70000}}]",               // a port out of range
		"steps: []", // no topology
	} {
		var doc any
		if err := yaml.Unmarshal([]byte(bad), &doc); err != nil {
			t.Fatal(err)
		}
		if len(testenv.SchemaProblems(schema, doc)) == 0 {
			t.Errorf("the schema allows %q", bad)
		}
	}
}
