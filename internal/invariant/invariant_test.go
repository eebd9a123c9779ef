package invariant

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// documentedEnv is the whole configuration surface of SPEC §1 plus the few operational
// settings the README documents. Anything else read from the environment would be an
// undocumented switch.
var documentedEnv = map[string]bool{
	"DATABASE_URL": true, "MIGRATE_DATABASE_URL": true, "TENANTD_SECRET": true, "TENANTD_SECRET_PREVIOUS": true,
	"TENANTD_OPERATOR_TOKEN": true, "BASE_DOMAIN": true, "TENANTD_SECURE_COOKIES": true, "SENTRY_DSN": true,
	"TENANTD_STORAGE_DIR": true, "TENANTD_ADDR": true, "TENANTD_ENVIRONMENT": true,
	"TENANTD_OWNER_PASSWORD": true, // `tenantd tenant create` reads the owner's password here, not from argv
}

// shippedFiles lists the non-test Go files of the module (testdata excluded).
func shippedFiles(t *testing.T) []string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("only %d source files found under %s", len(files), root)
	}
	return files
}

// Invariant 8: no debug bypass. The program reads only documented environment variables, names
// no auth-disabling switch, and never plants test-only routes.
func TestNoBypassInShippedCode(t *testing.T) {
	bypass := regexp.MustCompile(`(?i)(auth_?disabled|disable_?auth|skip_?auth|preview_?admin|insecure_?dev|auth_?bypass)`)
	fset := token.NewFileSet()
	var readEnv []string
	for _, path := range shippedFiles(t) {
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		rel := path[strings.Index(path, "/internal/")+1:]
		if strings.Contains(path, "/cmd/") {
			rel = path[strings.Index(path, "/cmd/")+1:]
		}
		for _, decl := range f.Decls {
			// env(name, default) in package main is the one generic reader; its callers are
			// checked below instead.
			if fd, ok := decl.(*ast.FuncDecl); ok && fd.Name.Name == "env" && f.Name.Name == "main" {
				continue
			}
			inspectDecl(t, fset, decl, bypass, rel, &readEnv)
		}
	}
	sort.Strings(readEnv)
	if len(readEnv) == 0 {
		t.Fatal("found no environment reads at all: the scan is broken")
	}
}

func inspectDecl(t *testing.T, fset *token.FileSet, decl ast.Decl, bypass *regexp.Regexp, rel string, readEnv *[]string) {
	ast.Inspect(decl, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CallExpr:
			sel, ok := x.Fun.(*ast.SelectorExpr)
			if !ok || len(x.Args) == 0 {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "os" && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv") {
				lit, ok := x.Args[0].(*ast.BasicLit)
				if !ok {
					t.Errorf("%s: environment variable read with a computed name", fset.Position(x.Pos()))
					return true
				}
				name, _ := strconv.Unquote(lit.Value)
				*readEnv = append(*readEnv, name)
				if !documentedEnv[name] {
					t.Errorf("%s: reads undocumented environment variable %s", fset.Position(x.Pos()), name)
				}
			}
			// env("NAME", default) is the command's own helper around os.Getenv.
			if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "env" {
				if lit, ok := x.Args[0].(*ast.BasicLit); ok {
					name, _ := strconv.Unquote(lit.Value)
					if !documentedEnv[name] {
						t.Errorf("%s: reads undocumented environment variable %s", fset.Position(x.Pos()), name)
					}
				}
			}
		case *ast.Ident:
			if bypass.MatchString(x.Name) {
				t.Errorf("%s: identifier %s looks like an isolation bypass", fset.Position(x.Pos()), x.Name)
			}
			if x.Name == "ExtraRoutes" && strings.HasPrefix(rel, "cmd/") {
				t.Errorf("%s: the shipped binary plants extra routes", fset.Position(x.Pos()))
			}
		case *ast.BasicLit:
			if x.Kind == token.STRING && bypass.MatchString(x.Value) {
				t.Errorf("%s: string %s looks like an isolation bypass", fset.Position(x.Pos()), x.Value)
			}
		}
		return true
	})
}

// The application role never sees a superuser or owner URL: only the dev command, the
// migrator and the test helpers know those.
func TestServeUsesOnlyTheApplicationRole(t *testing.T) {
	src, err := os.ReadFile("../../cmd/tenantd/cmd_serve.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"MIGRATE_DATABASE_URL", "pgcluster.Superuser", "OwnerRole"} {
		if strings.Contains(string(src), bad) {
			t.Errorf("serve refers to %s", bad)
		}
	}
}
