package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
)

// liveQueryView is one subscription query as the CLI shows it.
type liveQueryView struct {
	Projector string `json:"projector"`
	Key       string `json:"key"`
	Client    string `json:"client"`
	Since     string `json:"since"`
	Version   uint64 `json:"version"`
	Updates   uint64 `json:"updates"`
	Replica   string `json:"replica"`
}

func newQueriesCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	cmd := &cobra.Command{
		Use:   "queries",
		Short: "List the live subscription queries the server serves",
		Long: `List the subscription queries (ProjectionQuery.Subscribe) a running server serves now
(DeliveryAdmin.ListLiveQueries on the command port), oldest first: the projector and key
each client watches, since when, and the last projection version and number of updates
it was sent. Each replica serves its own clients: ask each one (--server) for the whole
picture.`,
		Example: `  evented queries
  evented queries -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			all, err := receiveAll(cmd, c, func(ctx context.Context, cn grpc.ClientConnInterface) (grpc.ServerStreamingClient[eventedpb.LiveQuery], error) {
				return eventedpb.NewDeliveryAdminClient(cn).ListLiveQueries(ctx, &emptypb.Empty{})
			})
			if err != nil {
				return err
			}
			views := []liveQueryView{}
			for _, q := range all {
				views = append(views, liveQueryView{Projector: q.GetProjector(), Key: q.GetKey(), Client: q.GetClient(),
					Since: timeText(q.GetSince(), time.RFC3339), Version: q.GetVersion(), Updates: q.GetUpdates(), Replica: q.GetReplica()})
			}
			footer := ""
			if len(views) > 0 {
				footer = fmt.Sprintf("%d live on %s", len(views), views[0].Replica)
			}
			return list(cmd.OutOrStdout(), out, views, "no live subscription queries on this replica",
				"PROJECTOR\tKEY\tCLIENT\tSINCE\tVERSION\tUPDATES", func(v liveQueryView) string {
					return fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%d", v.Projector, v.Key, v.Client, v.Since, v.Version, v.Updates)
				}, footer)
		},
	}
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	return cmd
}
