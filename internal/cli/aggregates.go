package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
)

// rootView is one aggregate known to the store.
type rootView struct {
	Domain string `json:"domain"`
	Root   string `json:"root"`
}

func newAggregatesCmd(load loader) *cobra.Command {
	c := &client{load: load, port: queryPort}
	var out output
	cmd := &cobra.Command{
		Use:   "aggregates [DOMAIN]",
		Short: "List the aggregates a running server has stored events for",
		Long: `List every aggregate (domain and root UUID) with stored events, ordered by domain
then root, from a running server's EventQuery.GetAggregateRoots; with DOMAIN, only
that domain's. Roots are UUIDs: a name such as cust-001 was stored as its
name-based UUID, which evented events customer cust-001 prints.`,
		Example: `  evented aggregates
  evented aggregates customer -o json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			all, err := receiveAll(cmd, c, func(ctx context.Context, cn grpc.ClientConnInterface) (grpc.ServerStreamingClient[eventedpb.AggregateRoot], error) {
				return eventedpb.NewEventQueryClient(cn).GetAggregateRoots(ctx, &emptypb.Empty{})
			})
			if err != nil {
				return err
			}
			roots := []rootView{}
			for _, r := range all {
				if len(args) == 1 && r.GetDomain() != args[0] {
					continue
				}
				roots = append(roots, rootView{Domain: r.GetDomain(), Root: rootText(r.GetRoot())})
			}
			w := cmd.OutOrStdout()
			if out == "json" {
				return writeJSON(w, roots)
			}
			if len(roots) == 0 {
				if len(args) == 1 {
					fmt.Fprintf(w, "no aggregates in domain %q\n", args[0])
				} else {
					fmt.Fprintln(w, "no aggregates: nothing is stored yet (evented send stores a first event)")
				}
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DOMAIN\tROOT")
			for _, r := range roots {
				fmt.Fprintf(tw, "%s\t%s\n", r.Domain, r.Root)
			}
			return tw.Flush()
		},
	}
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	return cmd
}
