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

// subscriptionView is one subscriber's progress as the CLI shows it.
type subscriptionView struct {
	Name        string `json:"name"`
	Checkpoint  uint64 `json:"checkpoint"`
	Head        uint64 `json:"head"`
	Lag         uint64 `json:"lag"`
	Delivered   uint64 `json:"delivered"`
	Parked      uint64 `json:"parked"`
	Pending     uint64 `json:"pending"`
	Synchronous bool   `json:"synchronous"`
	LastError   string `json:"last_error,omitempty"`
	Replica     string `json:"replica"`
	// ReplayUntil is the head at the last reset; Rebuilding while the
	// checkpoint is below it.
	ReplayUntil uint64        `json:"replay_until,omitempty"`
	Rebuilding  bool          `json:"rebuilding"`
	Segments    []segmentView `json:"segments"`
}

type segmentView struct {
	Segment  string `json:"segment"`
	Owner    string `json:"owner"`
	Token    uint64 `json:"token"`
	Position uint64 `json:"position"`
	Lag      uint64 `json:"lag"`
	Expires  string `json:"expires,omitempty"`
}

func newSubscriptionsCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	cmd := &cobra.Command{
		Use:   "subscriptions",
		Short: "Show every projector, saga and bus relay subscription: checkpoint, lag, segments and their owners",
		Long: `Show each subscriber of a running server (DeliveryAdmin.ListSubscriptions on the
command port): its checkpoint (the lowest of its segments'), the log head and the lag
between them, and each segment with the replica that holds its lease, the lease's
fencing token, the segment's position and lag. Delivered, parked and pending count
what the answering replica did since it started.`,
		Example: `  evented subscriptions
  evented subscriptions -o json`,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all, err := receiveAll(cmd, c, func(ctx context.Context, cn grpc.ClientConnInterface) (grpc.ServerStreamingClient[eventedpb.SubscriptionStatus], error) {
				return eventedpb.NewDeliveryAdminClient(cn).ListSubscriptions(ctx, &emptypb.Empty{})
			})
			if err != nil {
				return err
			}
			subs := []subscriptionView{}
			for _, s := range all {
				v := subscriptionView{
					Name: s.GetName(), Checkpoint: s.GetCheckpoint(), Head: s.GetHead(), Delivered: s.GetDelivered(),
					Parked: s.GetParked(), Pending: s.GetPending(), Synchronous: s.GetSynchronous(),
					LastError: s.GetLastError(), Replica: s.GetReplica(), Segments: []segmentView{},
					ReplayUntil: s.GetReplayUntil(), Rebuilding: s.GetCheckpoint() < s.GetReplayUntil(),
				}
				if v.Head > v.Checkpoint {
					v.Lag = v.Head - v.Checkpoint
				}
				for _, g := range s.GetSegments() {
					sv := segmentView{Segment: fmt.Sprintf("%d/%d", g.GetIndex(), g.GetOf()), Owner: g.GetOwner(),
						Token: g.GetToken(), Position: g.GetPosition(), Lag: g.GetLag()}
					if g.GetExpires() != nil {
						sv.Expires = g.GetExpires().AsTime().Format(time.RFC3339)
					}
					v.Segments = append(v.Segments, sv)
				}
				subs = append(subs, v)
			}
			w := cmd.OutOrStdout()
			if out == "json" {
				return writeJSON(w, subs)
			}
			if len(subs) == 0 {
				fmt.Fprintln(w, "no subscriptions: configure projectors, sagas or a bus (see README, Distribution)")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUBSCRIBER\tSEGMENT\tOWNER\tTOKEN\tPOSITION\tLAG\tREPLAY")
			for _, s := range subs {
				replay := ""
				if s.Rebuilding {
					replay = fmt.Sprintf("rebuilding up to %d", s.ReplayUntil)
				}
				fmt.Fprintf(tw, "%s\t(all)\t\t\t%d\t%d\t%s\n", s.Name, s.Checkpoint, s.Lag, replay)
				for _, g := range s.Segments {
					owner := g.Owner
					if owner == "" {
						owner = "(none yet)"
					}
					fmt.Fprintf(tw, "\t%s\t%s\t%d\t%d\t%d\n", g.Segment, owner, g.Token, g.Position, g.Lag)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, s := range subs {
				if s.LastError != "" {
					fmt.Fprintf(w, "%s: last error (seen by %s): %s\n", s.Name, s.Replica, s.LastError)
				}
			}
			return nil
		},
	}
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	return cmd
}
