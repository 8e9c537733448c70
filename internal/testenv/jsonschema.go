package testenv

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// SchemaProblems checks a decoded JSON or YAML document against a JSON
// Schema (the keywords the schemas in docs/ use: $ref into $defs, allOf,
// anyOf, oneOf, type, enum, const, required, properties,
// additionalProperties, propertyNames, items, minItems, minLength,
// minimum, maximum, pattern) and returns each place it breaks the
// schema, or nil.
func SchemaProblems(schema map[string]any, doc any) []string {
	v := &validator{root: schema}
	return v.validate(schema, doc, "")
}

// validator checks a value against a JSON Schema whose $refs point into root.
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
