package scenario

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// textMatchers are the functions that read meaning out of a string: if
// their argument is an error's text, the code parses messages.
var textMatchers = map[string]bool{
	// regexp.Regexp's
	"MatchString": true, "FindString": true, "FindStringIndex": true, "FindStringSubmatch": true,
	"FindStringSubmatchIndex": true, "FindAllString": true, "FindAllStringSubmatch": true,
	"ReplaceAllString": true, "ReplaceAllStringFunc": true,
	// package strings'
	"Contains": true, "ContainsAny": true, "HasPrefix": true, "HasSuffix": true, "Cut": true, "CutPrefix": true,
	"CutSuffix": true, "Index": true, "LastIndex": true, "Split": true, "SplitN": true, "Fields": true, "Count": true,
	// fmt's
	"Sscanf": true, "Sscan": true,
}

// textAllowed are the functions ("file:func") that may read errors' text,
// and why: none of it is the engine's.
var textAllowed = map[string]string{
	"yamltext.go:yamlError":  "the YAML library's errors carry their line only in their text",
	"steps_exec.go:execOnce": "an exec step's exit status (os/exec)",
}

// TestNoEngineErrorText fails when the package's code reads meaning out of
// an error's text (err.Error(), a ConfigError's Problem or Where, or a
// variable holding one) with a regexp, package strings' searches or
// Sscanf, or hands it to a function of its own but errList.add (which
// prints it): the engine's errors name what is at fault in ConfigError's
// fields, which the scenario maps to the file (posindex.go).
func TestNoEngineErrorText(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		// CI also runs a copy of this test binary elsewhere, as nobody.
		t.Skip("skipping: the package's source is not in the working directory")
	}
	fset := token.NewFileSet()
	checked := 0
	var parsed []*ast.File
	own := map[string]bool{} // the package's functions and methods, but add
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name != "add" {
				own[fn.Name.Name] = true
			}
		}
	}
	for _, f := range parsed {
		name := filepath.Base(fset.Position(f.Pos()).Filename)
		checked++
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil || textAllowed[name+":"+fn.Name.Name] != "" {
				continue
			}
			for _, at := range errTextUses(fn.Body, own) {
				t.Errorf("%s: %s reads an error's text; use the ConfigError's fields", fset.Position(at), fn.Name.Name)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d files", checked)
	}
}

// errTextUses returns where a function body passes an error's text to a
// text matcher. A variable assigned an expression holding an error's
// text holds it too.
func errTextUses(body *ast.BlockStmt, own map[string]bool) []token.Pos {
	tainted := map[string]bool{}
	isText := func(e ast.Expr) bool {
		found := false
		ast.Inspect(e, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CompositeLit, *ast.FuncLit:
				return false // a result or a callback holds the text, not is it
			case *ast.CallExpr:
				if sel, ok := x.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Error" && len(x.Args) == 0 {
					found = true
				}
			case *ast.SelectorExpr:
				if x.Sel.Name == "Problem" || x.Sel.Name == "Where" {
					found = true
				}
			case *ast.Ident:
				if tainted[x.Name] {
					found = true
				}
			}
			return !found
		})
		return found
	}
	// Two passes, so that a variable assigned after its use in a loop
	// counts too.
	for range 2 {
		ast.Inspect(body, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.AssignStmt:
				for i, rhs := range x.Rhs {
					if i < len(x.Lhs) && isText(rhs) {
						if id, ok := x.Lhs[i].(*ast.Ident); ok {
							tainted[id.Name] = true
						}
					}
				}
			case *ast.RangeStmt:
				if isText(x.X) {
					if id, ok := x.Value.(*ast.Ident); ok {
						tainted[id.Name] = true
					}
				}
			}
			return true
		})
	}
	var out []token.Pos
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		var fn string
		switch f := call.Fun.(type) {
		case *ast.SelectorExpr:
			fn = f.Sel.Name
		case *ast.Ident:
			fn = f.Name
		}
		if !textMatchers[fn] && !own[fn] {
			return true
		}
		for _, a := range call.Args {
			if isText(a) {
				out = append(out, call.Pos())
				break
			}
		}
		return true
	})
	return out
}

// TestErrTextUsesFinds: the check above finds the forms of message parsing
// this package had.
func TestErrTextUsesFinds(t *testing.T) {
	for _, src := range []string{
		`if m := buildProblem.FindStringSubmatch(err.Error()); m != nil {}`,
		`msg := err.Error(); if strings.Contains(msg, "link "+name+":") {}`,
		`problem := e.Error(); if ce, ok := e.(*nettest.ConfigError); ok { problem = ce.Problem }; ruleFields.FindStringIndex(problem)`,
		`parts := strings.Split(where, ": "); _ = parts; where = ce.Where`,
		`strings.HasPrefix(ce.Problem, "MTU ")`,
		`l.add(s.idx.lookup(ce.Where, ce.Problem), "%s", ce.Error())`,
		`if p, msg, ok := impairMessage(ce.Problem, sp.impair, sp.via); ok {}`,
	} {
		f, err := parser.ParseFile(token.NewFileSet(), "x.go", "package x\nfunc f() {"+src+"}", 0)
		if err != nil {
			t.Fatal(err)
		}
		if uses := errTextUses(f.Decls[0].(*ast.FuncDecl).Body, map[string]bool{"lookup": true, "impairMessage": true}); len(uses) == 0 {
			t.Errorf("not found: %s", src)
		}
	}
}
