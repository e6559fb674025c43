// Command rpcproto prints google/rpc/error_details.proto from the descriptor
// compiled into the googleapis Go package pinned in go.mod. The buf registry
// is out of reach here, so this is how the TypeScript SDK gets the error
// detail types (google.rpc.BadRequest, RetryInfo, ...) the server sends:
// scripts/generate.sh prints the file and generates TypeScript from it, and
// the version in go.mod decides its content.
package main

import (
	"fmt"
	"os"

	"github.com/jhump/protoreflect/v2/protoprint"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rpcproto OUTPUT_FILE")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "rpcproto:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	p := protoprint.Printer{SortElements: false, Compact: false}
	if err := p.PrintProtoFile(errdetails.File_google_rpc_error_details_proto, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
