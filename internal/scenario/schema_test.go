package scenario_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/nettestlab/nettest/internal/scenario"
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
	v := &validator{root: schema}
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
		for _, p := range v.validate(schema, doc, "") {
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
		if len(v.validate(schema, doc, "")) == 0 {
			t.Errorf("the schema allows %q", bad)
		}
	}
}

// validator checks a value against a JSON Schema: the keywords the
// scenario schema uses.
type validator struct{ root map[string]any }

func (v *validator) validate(schema, x any, path string) []string {
	switch s := schema.(type) {
	case bool:
		if !s {
			return []string{path + ": not allowed"}
		}
		return nil
	case map[string]any:
		return v.object(s, x, path)
	}
	return []string{fmt.Sprintf("%s: schema %T", path, schema)}
}

func (v *validator) object(s map[string]any, x any, path string) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, path+": "+fmt.Sprintf(format, args...)) }
	if ref, ok := s["$ref"].(string); ok {
		def := v.root["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")]
		probs = append(probs, v.validate(def, x, path)...)
	}
	for _, sub := range list(s["allOf"]) {
		probs = append(probs, v.validate(sub, x, path)...)
	}
	if alts := list(s["anyOf"]); alts != nil && !slices.ContainsFunc(alts, func(sub any) bool { return len(v.validate(sub, x, path)) == 0 }) {
		bad("matches none of anyOf")
	}
	if one := list(s["oneOf"]); one != nil {
		n := 0
		for _, sub := range one {
			if len(v.validate(sub, x, path)) == 0 {
				n++
			}
		}
		if n != 1 {
			bad("matches %d of oneOf, want 1", n)
		}
	}
	if typ, ok := s["type"]; ok {
		types := list(typ)
		if types == nil {
			types = []any{typ}
		}
		if !slices.ContainsFunc(types, func(t any) bool { return isType(x, t.(string)) }) {
			bad("%v is not %v", x, typ)
			return probs
		}
	}
	if e := list(s["enum"]); e != nil && !slices.ContainsFunc(e, func(c any) bool { return equal(c, x) }) {
		bad("%v is none of %v", x, e)
	}
	if c, ok := s["const"]; ok && !equal(c, x) {
		bad("%v is not %v", x, c)
	}
	if p, ok := s["pattern"].(string); ok {
		if str, isStr := x.(string); isStr && !regexp.MustCompile(p).MatchString(str) {
			bad("%q does not match %s", str, p)
		}
	}
	if n, ok := number(x); ok {
		if m, ok := s["minimum"].(float64); ok && n < m {
			bad("%v < %v", n, m)
		}
		if m, ok := s["maximum"].(float64); ok && n > m {
			bad("%v > %v", n, m)
		}
	}
	if m, ok := s["minLength"].(float64); ok {
		if str, isStr := x.(string); isStr && float64(len(str)) < m {
			bad("shorter than %v", m)
		}
	}
	if arr, ok := x.([]any); ok {
		if m, ok := s["minItems"].(float64); ok && float64(len(arr)) < m {
			bad("fewer than %v items", m)
		}
		if items, ok := s["items"]; ok {
			for i, it := range arr {
				probs = append(probs, v.validate(items, it, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	if obj, ok := x.(map[string]any); ok {
		probs = append(probs, v.properties(s, obj, path)...)
	}
	return probs
}

func (v *validator) properties(s map[string]any, obj map[string]any, path string) []string {
	var probs []string
	for _, r := range list(s["required"]) {
		if _, ok := obj[r.(string)]; !ok {
			probs = append(probs, fmt.Sprintf("%s: missing %s", path, r))
		}
	}
	props, _ := s["properties"].(map[string]any)
	for k, val := range obj {
		if names, ok := s["propertyNames"]; ok {
			probs = append(probs, v.validate(names, k, path+"."+k)...)
		}
		if p, ok := props[k]; ok {
			probs = append(probs, v.validate(p, val, path+"."+k)...)
		} else if add, ok := s["additionalProperties"]; ok {
			probs = append(probs, v.validate(add, val, path+"."+k)...)
		}
	}
	return probs
}

func list(x any) []any {
	l, _ := x.([]any)
	return l
}

// number reads YAML's and JSON's numbers alike.
func number(x any) (float64, bool) {
	switch n := x.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func isType(x any, t string) bool {
	n, isNum := number(x)
	switch t {
	case "string":
		_, ok := x.(string)
		return ok
	case "integer":
		return isNum && n == float64(int64(n))
	case "number":
		return isNum
	case "boolean":
		_, ok := x.(bool)
		return ok
	case "array":
		_, ok := x.([]any)
		return ok
	case "object":
		_, ok := x.(map[string]any)
		return ok
	case "null":
		return x == nil
	}
	return false
}

func equal(a, b any) bool {
	if na, ok := number(a); ok {
		nb, ok := number(b)
		return ok && na == nb
	}
	return reflect.DeepEqual(a, b)
}
