// Command grpcpackage moves the grpc-go stubs that protoc-gen-go-grpc wrote
// into packages of their own.
//
// protoc-gen-go-grpc writes a service's stubs into the Go package of its
// .proto file, beside the messages, and has no option to do otherwise. In
// the SDK that would make every user of the messages (the Connect SDK)
// import google.golang.org/grpc. This tool takes each RAW/<dir>/x_grpc.pb.go
// and writes it to OUT/<dir>/<pkg>grpc/x_grpc.pb.go as package <pkg>grpc,
// its references to the messages qualified with the messages' package
// (github.com/bookworm-store/bookworm/sdk/go/gen/<dir>), whose type names it
// reads from MESSAGES/<dir>/*.pb.go. OUT is the nested module sdk/go/grpc,
// so that only grpc-go users ever download grpc.
//
// Usage: grpcpackage RAW MESSAGES OUT
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// messagesImport is the import path of the directory MESSAGES.
const messagesImport = "github.com/bookworm-store/bookworm/sdk/go/gen"

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: grpcpackage RAW MESSAGES OUT")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "grpcpackage:", err)
		os.Exit(1)
	}
}

func run(raw, messages, out string) error {
	return filepath.WalkDir(raw, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_grpc.pb.go") {
			return err
		}
		rel, err := filepath.Rel(raw, filepath.Dir(p))
		if err != nil {
			return err
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		types, err := typeNames(filepath.Join(messages, rel))
		if err != nil {
			return err
		}
		pkg, code, err := rewrite(src, types, path.Join(messagesImport, filepath.ToSlash(rel)))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		dir := filepath.Join(out, rel, pkg)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(p)), code, 0o644)
	})
}

// typeNames returns the names of the types declared in the .pb.go files of
// dir.
func typeNames(dir string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.pb.go"))
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_grpc.pb.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range file.Decls {
			if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.TYPE {
				for _, s := range g.Specs {
					names[s.(*ast.TypeSpec).Name.Name] = true
				}
			}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no message types in %s", dir)
	}
	return names, nil
}

// rewrite renames the package of src to <name>grpc, qualifies every use of
// types (an identifier not after a dot) with the messages' package, and
// imports it. It returns the new package name and the formatted code.
func rewrite(src []byte, types map[string]bool, msgImport string) (string, []byte, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "", src, parser.PackageClauseOnly)
	if err != nil {
		return "", nil, err
	}
	msgPkg := file.Name.Name
	pkg := msgPkg + "grpc"
	var s scanner.Scanner
	tf := fset.AddFile("", fset.Base(), len(src))
	s.Init(tf, src, nil, scanner.ScanComments)
	var b bytes.Buffer
	last, prev := 0, token.ILLEGAL
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		off := tf.Offset(pos)
		switch {
		case tok == token.IDENT && prev == token.PACKAGE:
			b.Write(src[last:off])
			b.WriteString(pkg)
			last = off + len(lit)
		case tok == token.IDENT && prev == token.IMPORT:
			// A single import; protoc-gen-go-grpc writes an import block.
		case tok == token.LPAREN && prev == token.IMPORT:
			b.Write(src[last : off+1])
			fmt.Fprintf(&b, "\n\t%s %q\n", msgPkg, msgImport)
			last = off + 1
		case tok == token.IDENT && types[lit] && prev != token.PERIOD && prev != token.TYPE:
			b.Write(src[last:off])
			b.WriteString(msgPkg + "." + lit)
			last = off + len(lit)
		}
		if tok != token.COMMENT {
			prev = tok
		}
	}
	b.Write(src[last:])
	header := "// Moved into package " + pkg + " by internal/tools/grpcpackage, so that the\n// messages' package does not import grpc.\n\n"
	code := bytes.Replace(b.Bytes(), []byte("\npackage "+pkg), []byte("\n"+header+"package "+pkg), 1)
	formatted, err := format.Source(code)
	if err != nil {
		return "", nil, fmt.Errorf("the rewritten stubs do not parse: %w", err)
	}
	return pkg, formatted, nil
}
