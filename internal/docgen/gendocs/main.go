// Command gendocs writes the generated reference pages of docs/ (see package
// docgen). Run it from the repository's top directory, or through
// `go generate ./docs`, which runs it with -root ..
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/evented/evented/internal/docgen"
)

func main() {
	root := flag.String("root", ".", "the repository's top directory")
	flag.Parse()
	if err := docgen.Write(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
