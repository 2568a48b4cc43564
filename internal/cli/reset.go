package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
)

type resetView struct {
	Subscriber   string `json:"subscriber"`
	Position     uint64 `json:"position"`
	ReplayUntil  uint64 `json:"replay_until"`
	Segments     uint32 `json:"segments"`
	SagaCommands bool   `json:"saga_commands"`
}

func newResetCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	var afterPosition, at string
	var sagaCommands bool
	cmd := &cobra.Command{
		Use:   "reset SUBSCRIBER",
		Short: "Rebuild a projector (or re-run a saga): deliver its events again from the beginning, a position or a time",
		Long: `Move SUBSCRIBER back to the beginning of the log (the default), to just after a log
position (--after-position) or to the first event created at or after a time (--time), on
every replica (DeliveryAdmin.ResetSubscription). Its events from there up to today's
head are delivered again, each aggregate's in order, with the gRPC metadata
evented-replay: true, so a projector rebuilds its read model and can hold side effects
such as e-mails. A saga's commands in answer to replayed events are dropped unless
--saga-commands is given (they carry the same idempotency keys as the first time, so
within command.idempotency_retention they are not applied twice anyway).

Events committed meanwhile keep flowing. Replicas holding the subscriber's segments stop
and start again within a third of delivery.lease_ttl. Parked events stay parked (evented
replay). Watch the rebuild with evented subscriptions: REPLAY shows the head at the
reset until the checkpoint passes it.`,
		Example: `  evented reset receipt
  evented reset receipt --time 2026-11-30T00:00:00Z
  evented reset receipt --after-position 48210
  evented reset loyalty --saga-commands`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &eventedpb.ResetRequest{Subscriber: args[0], SagaCommands: sagaCommands}
			switch {
			case afterPosition != "" && at != "":
				return fmt.Errorf("--after-position and --time: give one of them (neither means the beginning)")
			case afterPosition != "":
				p, err := strconv.ParseUint(afterPosition, 10, 64)
				if err != nil {
					return fmt.Errorf("--after-position %q: want a log position (a whole number, as evented events -o json shows)", afterPosition)
				}
				req.To = &eventedpb.ResetRequest_AfterPosition{AfterPosition: p}
			case at != "":
				t, err := time.Parse(time.RFC3339Nano, at)
				if err != nil {
					return fmt.Errorf("--time %q: want an RFC 3339 time, e.g. 2026-11-30T00:00:00Z", at)
				}
				req.To = &eventedpb.ResetRequest_Time{Time: timestamppb.New(t)}
			default:
				req.To = &eventedpb.ResetRequest_Beginning{Beginning: true}
			}
			cn, err := c.dial()
			if err != nil {
				return err
			}
			defer cn.Close()
			ctx, cancel := c.context(cmd.Context())
			defer cancel()
			res, err := eventedpb.NewDeliveryAdminClient(cn).ResetSubscription(ctx, req)
			if err != nil {
				return cn.explain(err, c.timeout)
			}
			v := resetView{Subscriber: args[0], Position: res.GetPosition(), ReplayUntil: res.GetReplayUntil(),
				Segments: res.GetSegments(), SagaCommands: sagaCommands}
			w := cmd.OutOrStdout()
			if out == "json" {
				return writeJSON(w, v)
			}
			fmt.Fprintf(w, "%s reset after position %d: its events up to %d are delivered again as a replay (%d segments", v.Subscriber, v.Position, v.ReplayUntil, v.Segments)
			if sagaCommands {
				fmt.Fprint(w, "; saga commands dispatched again")
			}
			fmt.Fprintf(w, ")\nfollow it with: evented subscriptions\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&afterPosition, "after-position", "", "deliver the events after this log position")
	cmd.Flags().StringVar(&at, "time", "", "deliver the events created at or after this RFC 3339 time")
	cmd.Flags().BoolVar(&sagaCommands, "saga-commands", false, "dispatch again the commands a saga answers to the replayed events")
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	return cmd
}
