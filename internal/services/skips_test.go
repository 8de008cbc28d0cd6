package services

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// In CI (CI=true) a missing Docker or service is a failure, not a skip
// (DESIGN.md §4): every skip in the tests of this package and its
// subpackages goes through a helper that fails in CI. A bare t.Skip is
// allowed only inside such a helper, i.e. a function that reads CI.
func TestNoBareSkips(t *testing.T) {
	fset := token.NewFileSet()
	var files int
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files++
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil || readsCI(fn) {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && strings.HasPrefix(sel.Sel.Name, "Skip") {
					t.Errorf("%s: %s calls %s directly: use a helper that fails when CI=true (unavailable)", fset.Position(call.Pos()), fn.Name.Name, sel.Sel.Name)
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("found only %d test files: the walk did not see this package's tests", files)
	}
}

// readsCI reports whether fn reads the CI variable (the skip-or-fail helpers).
func readsCI(fn *ast.FuncDecl) bool {
	found := false
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && lit.Value == `"CI"` {
			found = true
		}
		return !found
	})
	return found
}
