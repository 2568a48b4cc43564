package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
)

// subscriptionView is one subscriber's progress as the CLI shows it.
type subscriptionView struct {
	Name       string `json:"name"`
	Checkpoint uint64 `json:"checkpoint"`
	Head       uint64 `json:"head"`
	Lag        uint64 `json:"lag"`
	Delivered  uint64 `json:"delivered"`
	// Retries is the failed delivery attempts (each retried, or ended
	// with the events parked) since the answering replica started.
	Retries     uint64 `json:"retries"`
	Parked      uint64 `json:"parked"`
	Pending     uint64 `json:"pending"`
	Synchronous bool   `json:"synchronous"`
	LastError   string `json:"last_error,omitempty"`
	Replica     string `json:"replica"`
	// ReplayUntil is the head at the last reset; Rebuilding while the
	// checkpoint is below it.
	ReplayUntil uint64 `json:"replay_until,omitempty"`
	Rebuilding  bool   `json:"rebuilding"`
	// Projector, Version and State: a projector's version (blue/green).
	Projector string `json:"projector,omitempty"`
	Version   uint32 `json:"version,omitempty"`
	State     string `json:"state,omitempty"`
	// LagSeconds is the age of the oldest unhandled event; Rate the events
	// per second the answering replica delivers; ETASeconds lag / rate.
	LagSeconds float64       `json:"lag_seconds"`
	Rate       float64       `json:"rate"`
	ETASeconds float64       `json:"eta_seconds"`
	Segments   []segmentView `json:"segments"`
}

type segmentView struct {
	Segment  string `json:"segment"`
	Owner    string `json:"owner"`
	Token    uint64 `json:"token"`
	Position uint64 `json:"position"`
	Lag      uint64 `json:"lag"`
	Expires  string `json:"expires,omitempty"`
}

// catchUpText says how far behind a subscriber is in time and when it
// will have caught up.
func catchUpText(lag, rate, eta float64) string {
	t := fmt.Sprintf("%s behind", (time.Duration(lag) * time.Second).String())
	if rate > 0 {
		t += fmt.Sprintf(", %.0f events/s, caught up in ~%s", rate, (time.Duration(eta) * time.Second).String())
	}
	return t
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
fencing token, the segment's position and lag. RETRIES is the delivery attempts that
failed (each tried again after a backoff, or ended with the events parked); it,
delivered, parked and pending count what the answering replica did since it started.`,
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
					Name: s.GetName(), Checkpoint: s.GetCheckpoint(), Head: s.GetHead(), Delivered: s.GetDelivered(), Retries: s.GetRetries(),
					Parked: s.GetParked(), Pending: s.GetPending(), Synchronous: s.GetSynchronous(),
					LastError: s.GetLastError(), Replica: s.GetReplica(), Segments: []segmentView{},
					ReplayUntil: s.GetReplayUntil(), Rebuilding: s.GetCheckpoint() < s.GetReplayUntil(),
					Projector: s.GetProjector(), Version: s.GetVersion(), State: s.GetState(),
					LagSeconds: s.GetLagSeconds(), Rate: s.GetRate(), ETASeconds: s.GetEtaSeconds(),
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
				fmt.Fprintln(w, "no subscriptions: configure projectors, sagas or a bus (see docs/howto/distribution.md)")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUBSCRIBER\tSEGMENT\tOWNER\tTOKEN\tPOSITION\tLAG\tRETRIES\tSTATE")
			for _, s := range subs {
				var state []string
				if s.Version > 1 || s.State != "active" {
					state = append(state, fmt.Sprintf("v%d %s", max(s.Version, 1), s.State))
				}
				if s.Rebuilding {
					state = append(state, fmt.Sprintf("replaying up to %d", s.ReplayUntil))
				}
				if s.Lag > 0 {
					state = append(state, catchUpText(s.LagSeconds, s.Rate, s.ETASeconds))
				}
				fmt.Fprintf(tw, "%s\t(all)\t\t\t%d\t%d\t%d\t%s\n", s.Name, s.Checkpoint, s.Lag, s.Retries, strings.Join(state, ", "))
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
