package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/evented/evented/api/eventedpb"
)

// keptSnapshotView is one kept snapshot as `evented snapshots` prints it.
type keptSnapshotView struct {
	Sequence   uint32 `json:"sequence"`
	Type       string `json:"type"`
	StateBytes uint32 `json:"state_bytes"`
	CreatedAt  string `json:"created_at"`
	// Loaded marks the latest, the one commands load.
	Loaded bool `json:"loaded"`
}

func newSnapshotsCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	cmd := &cobra.Command{
		Use:   "snapshots DOMAIN ID",
		Short: "List the snapshots kept of an aggregate, newest first",
		Long: `List the snapshots kept of aggregate ID of DOMAIN (DeliveryAdmin.ListSnapshots on
the command port), newest first: each with its sequence (the events folded into it), the
type of its state, its size and when it was taken. The newest is the one commands load
(evented snapshot prints it with its state); the domain's snapshots.keep says how many
older ones stay (1 by default: the latest alone).

` + idHelp,
		Example: `  evented snapshots customer cust-001
  evented snapshots customer cust-001 -o json`,
		Args:              aggregateArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			agg, err := newAggregate(args[0], args[1])
			if err != nil {
				return err
			}
			all, err := receiveAll(cmd, c, func(ctx context.Context, cn grpc.ClientConnInterface) (grpc.ServerStreamingClient[eventedpb.KeptSnapshot], error) {
				return eventedpb.NewDeliveryAdminClient(cn).ListSnapshots(ctx, agg.cover())
			})
			if err != nil {
				return err
			}
			views := []keptSnapshotView{}
			for i, s := range all {
				views = append(views, keptSnapshotView{Sequence: s.GetSequence(), Type: s.GetTypeUrl(), StateBytes: s.GetStateBytes(),
					CreatedAt: timeText(s.GetCreatedAt(), time.RFC3339Nano), Loaded: i == 0})
			}
			return list(cmd.OutOrStdout(), out, views, fmt.Sprintf("%s has no snapshot", agg), "SEQUENCE\tTAKEN\tTYPE\tBYTES\t", func(v keptSnapshotView) string {
				loaded := ""
				if v.Loaded {
					loaded = "loaded"
				}
				return fmt.Sprintf("%d\t%s\t%s\t%d\t%s", v.Sequence, v.CreatedAt, v.Type, v.StateBytes, loaded)
			}, fmt.Sprintf("%d kept", len(views)))
		},
	}
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	return cmd
}
