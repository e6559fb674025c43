// Command tinymodel writes the tests' tiny random-weight Ollama model
// (tinymodel.Write: tiny.gguf and its Modelfile) into a directory,
// for bench/backfill.sh to `ollama create` it.
// Usage: go run ./bench/tinymodel DIR
package main

import (
	"fmt"
	"os"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama/tinymodel"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tinymodel DIR")
		os.Exit(2)
	}
	if err := tinymodel.Write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "tinymodel:", err)
		os.Exit(1)
	}
}
