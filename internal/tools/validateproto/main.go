// Command validateproto prints buf/validate/validate.proto from the descriptor
// compiled into the protovalidate Go package. The buf registry is out of reach
// here, so this is how the contract gets the protovalidate rules' definitions:
// the version pinned in go.mod decides the file, and regenerating is offline.
package main

import (
	"fmt"
	"os"

	validate "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/jhump/protoreflect/v2/protoprint"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: validateproto OUTPUT_FILE")
		os.Exit(2)
	}
	f, err := os.Create(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p := protoprint.Printer{SortElements: false, Compact: false}
	if err := p.PrintProtoFile(validate.File_buf_validate_validate_proto, f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
