package detect

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Kinds is the one list of detection kinds (metrics, the API, docs/events.md): every constant of
// type Kind in this package is in it, and docs/events.md names each. A new rule's kind cannot be
// forgotten in either.
func TestKindsListsEveryKind(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var declared []Kind
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				v := s.(*ast.ValueSpec)
				if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Kind" {
					continue
				}
				for _, val := range v.Values {
					if lit, ok := val.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						k, _ := strconv.Unquote(lit.Value)
						declared = append(declared, Kind(k))
					}
				}
			}
		}
	}
	if len(declared) < 10 {
		t.Fatalf("found only %d Kind constants: the walk is broken", len(declared))
	}
	for _, k := range declared {
		if !slices.Contains(Kinds, k) {
			t.Errorf("kind %q is declared but not in Kinds (metrics and the API list Kinds)", k)
		}
	}
	if len(Kinds) != len(declared) {
		t.Errorf("Kinds has %d entries, %d Kind constants are declared", len(Kinds), len(declared))
	}
	doc, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		if !strings.Contains(string(doc), "`"+string(k)+"`") {
			t.Errorf("docs/events.md does not name the kind `%s`", k)
		}
	}
}
