package deps

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nettestlab/nettest/internal/testenv"
)

const module = "github.com/nettestlab/nettest"

func TestMain(m *testing.M) {
	testenv.Private()
	os.Exit(m.Run())
}

// allowed lists, for every package of the module (by its path in the
// module), the packages of the module its non-test files may import. A
// package missing from the table fails the test: adding one is a decision
// about where it sits.
var allowed = map[string][]string{
	// Mechanisms: each has one job and imports no nettest package of a
	// higher layer.
	"internal/nsthread":   {},
	"internal/owner":      {},
	"internal/nftrules":   {},
	"internal/shim":       {},
	"internal/pcapng":     {},
	"internal/packetsock": {},
	"internal/taplink":    {},
	"internal/ready":      {},

	// The engine: the public model and the live network.
	"nettest": {"internal/nsthread", "internal/owner", "internal/nftrules", "internal/shim", "internal/pcapng", "internal/packetsock", "internal/taplink", "internal/ready"},

	// The test layer.
	"fixtures":          {"nettest"},
	"assertions":        {"nettest"},
	"assertions/must":   {"assertions", "nettest"},
	"internal/icmpping": {"nettest"},

	// Scenario files, and the CLI over them.
	"internal/scenario":           {"nettest", "assertions", "internal/owner"},
	"internal/scenario/schemagen": {"internal/scenario"},
	"internal/lab":                {"nettest", "internal/owner"},
	"cmd/nettest-run":             {"internal/scenario", "internal/lab", "nettest", "assertions", "internal/owner", "examples/scenarios"},

	// Examples users copy, and the files they read.
	"examples":           {},
	"examples/scenarios": {},
	"examples/seed":      {"nettest", "internal/icmpping"},

	// Helpers of this repository's own tests and benchmarks.
	"internal/testenv":   {"fixtures", "nettest"},
	"internal/hoststate": {"internal/nsthread"},
	"internal/baseline":  {"internal/nsthread"},
	"internal/deps":      {},
}

// noTesting are packages that must not import testing or testify: they run
// in users' programs, not only in tests.
var noTesting = []string{"nettest", "internal/nsthread", "internal/owner", "internal/nftrules", "internal/shim", "internal/pcapng", "internal/packetsock", "internal/taplink", "internal/ready", "internal/lab", "internal/scenario", "cmd/nettest-run"}

// kernelAPI are the libraries that talk to the kernel's network stack;
// only the engine and the mechanisms below it (and tools that measure it
// from outside) use them: everything above asks the engine.
var kernelAPI = []string{"github.com/vishvananda/netlink", "github.com/vishvananda/netns", "github.com/google/nftables"}

var kernelAPIAllowed = []string{"nettest", "internal/nsthread", "internal/nftrules", "internal/shim", "internal/ready", "internal/hoststate", "internal/baseline", "examples/seed"}

// root finds the module's source: this test runs in internal/deps.
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(r, "go.mod")); err != nil || !strings.Contains(string(data), "module "+module+"\n") {
		// CI also runs a copy of this test binary elsewhere, as nobody.
		t.Skipf("skipping: the module's source is not at %s", r)
	}
	return r
}

// imports returns, per package directory, the import paths of its non-test
// files, and per Example function ("dir/file.go:ExampleX") the packages its
// body uses.
func imports(t *testing.T, root string) (pkgs map[string][]string, examples map[string][]string) {
	pkgs, examples = map[string][]string{}, map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		var paths []string
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			paths = append(paths, p)
		}
		if !strings.HasSuffix(path, "_test.go") {
			pkgs[rel] = append(pkgs[rel], paths...)
			return nil
		}
		full, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		// The module's packages an Example's body uses, by local name.
		local := map[string]string{}
		for _, im := range full.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			name := filepath.Base(p)
			if im.Name != nil {
				name = im.Name.Name
			}
			local[name] = p
		}
		for _, decl := range full.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Example") {
				continue
			}
			key := rel + "/" + filepath.Base(path) + ":" + fn.Name.Name
			examples[key] = []string{}
			ast.Inspect(fn, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && local[id.Name] != "" {
						examples[key] = append(examples[key], local[id.Name])
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs, examples
}

// TestLayering fails when a package imports a package of this module that
// its layer does not allow, or imports testing where it must not.
func TestLayering(t *testing.T) {
	pkgs, _ := imports(t, root(t))
	for dir, paths := range pkgs {
		ok, known := allowed[dir]
		if !known {
			t.Errorf("package %s is not in the layering table (internal/deps/deps_test.go): place it", dir)
			continue
		}
		for _, p := range paths {
			if p == "testing" || strings.HasPrefix(p, "github.com/stretchr/testify") {
				if slices.Contains(noTesting, dir) {
					t.Errorf("%s imports %s: it runs in users' programs, not only in tests", dir, p)
				}
				continue
			}
			if slices.ContainsFunc(kernelAPI, func(k string) bool { return p == k || strings.HasPrefix(p, k+"/") }) && !slices.Contains(kernelAPIAllowed, dir) {
				t.Errorf("%s imports %s: only the engine talks to the kernel's network stack; ask it", dir, p)
			}
			in, ours := strings.CutPrefix(p, module+"/")
			if !ours || slices.Contains(ok, in) {
				continue
			}
			t.Errorf("%s imports %s, which its layer does not allow (allowed: %v)", dir, in, ok)
		}
	}
	for dir := range allowed {
		if _, ok := pkgs[dir]; !ok {
			t.Errorf("the layering table names %s, which holds no Go file", dir)
		}
	}
}

// TestExamplesImportNoInternal: a public package's Example functions are
// for readers to copy, so they import no internal package.
func TestExamplesImportNoInternal(t *testing.T) {
	_, examples := imports(t, root(t))
	if len(examples) == 0 {
		t.Fatal("found no Example function: is the search broken?")
	}
	for file, paths := range examples {
		if strings.HasPrefix(file, "internal/") {
			continue
		}
		for _, p := range paths {
			if strings.HasPrefix(p, module+"/internal/") {
				t.Errorf("%s uses %s: readers cannot copy it", file, p)
			}
		}
	}
}
