// Command loyalty-watch is an example client of a subscription query: it
// follows one customer's loyalty balance, the projection of the
// loyalty-balance projector (examples/go/projector-loyalty), and prints
// the current balance, then every new one evented pushes, one line each:
//
//	go run ./examples/go/loyalty-watch cust-001
//	version=1 sequence=0 customer=bee85a38-babe-5251-8d7d-f8a8ed93ed9c name="Alice" points=0 lifetime=0
//	version=2 sequence=1 customer=bee85a38-babe-5251-8d7d-f8a8ed93ed9c name="Alice" points=45 lifetime=45
//
// CUSTOMER is the customer's aggregate id: a UUID, or a name such as
// cust-001 standing for its name-based UUID (sdk.Root), as in evented send.
// It runs until interrupted (SIGINT, SIGTERM); when evented restarts, it
// subscribes again after the last version printed, missing nothing.
//
// Flags: -query-addr (env EVENTED_QUERY_ADDR, default localhost:1314),
// -projector (default loyalty-balance), -after VERSION (resume after it).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	addr := os.Getenv("EVENTED_QUERY_ADDR")
	if addr == "" {
		addr = "localhost:1314"
	}
	flag.StringVar(&addr, "query-addr", addr, "evented's query port (env EVENTED_QUERY_ADDR)")
	projector := flag.String("projector", "loyalty-balance", "the projector whose projection to follow")
	after := flag.Uint64("after", 0, "resume after this version (0: start with the current balance)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] CUSTOMER\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, addr, *projector, flag.Arg(0), *after, os.Stdout)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "loyalty-watch:", err)
		stop()
		os.Exit(1)
	}
}
