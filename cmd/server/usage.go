package main

import (
	"flag"
	"fmt"
)

// subcommands are the commands run accepts before its flags, shown by --help.
var subcommands = []struct{ name, summary string }{
	{"serve", "run the server (the default when no subcommand is given)"},
	{"dev-token", "print a token of the development issuer (see `dev-token --help`)"},
}

// printUsage is the --help text of the server: its subcommands, then its
// flags, each with its BOOKWORM_* environment variable.
func printUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s [serve] [flags]\n       %s dev-token --sub ID [--role ROLE]... [--ttl 1h]\n\nSubcommands:\n", fs.Name(), fs.Name())
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nFlags of serve (each also read from its environment variable; a flag wins):\n")
	fs.PrintDefaults()
}
