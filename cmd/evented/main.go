// Command evented is the evented server and its command-line tools.
// See README.md and docs/, or run `evented --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/evented/evented/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
