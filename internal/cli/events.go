package cli

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/evented/evented/api/eventedpb"
)

const idHelp = `ID is a UUID or any string: a string that is not a UUID stands for its name-based
UUID (version 5, SHA-1, of "evented:" + ID in the URL namespace, as in every evented
SDK). The UUID is printed.`

func aggregateArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want DOMAIN ID, got %d argument(s); e.g. evented %s customer cust-001", len(args), cmd.Name())
	}
	return nil
}

func newEventsCmd(load loader) *cobra.Command {
	c := &client{load: load, port: queryPort}
	var out output
	var descriptorSets []string
	var from, to uint32
	var causes bool
	cmd := &cobra.Command{
		Use:   "events DOMAIN ID",
		Short: "Print an aggregate's events, payloads decoded",
		Long: `Print the events of aggregate ID of DOMAIN from a running server's
EventQuery.GetEvents: sequence, created_at, type and payload — as JSON when the
type is known (the examples compiled in, or --descriptor-set), else base64.

--from and --to select sequences [from, to): --to is exclusive and 0 means no
upper bound. Every event is printed, also those folded into a snapshot (see
evented snapshot).

--causes adds each event's causation to the table: the correlation id of the
client request it stems from, its depth (saga hops from that request) and the
event whose saga caused it (domain/root/sequence; "-" for a client's command).
-o json always has them, with the command id, under "cause".

` + idHelp,
		Example: `  evented events customer cust-001
  evented events customer cust-001 --from 10 --to 20 -o json | jq '.events[].payload'
  evented events customer cust-001 --causes`,
		Args:              aggregateArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			agg, err := newAggregate(args[0], args[1])
			if err != nil {
				return err
			}
			if to != 0 && to < from {
				return fmt.Errorf("--to %d is below --from %d: --to is the first sequence NOT printed (0: no bound)", to, from)
			}
			upper := to
			if upper == 0 {
				// Both bounds 0 would ask for the snapshot and the events
				// after it; the highest bound asks for every event.
				upper = math.MaxUint32
			}
			v, err := c.getEvents(cmd, agg, descriptorSets, from, upper)
			if err != nil {
				return err
			}
			if out == "json" {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, agg)
			if len(v.Events) == 0 {
				if from == 0 && to == 0 {
					fmt.Fprintln(w, "no events: nothing was stored for this aggregate (check the domain and id; evented aggregates lists what there is)")
				} else {
					fmt.Fprintf(w, "no events in [%d, %s)\n", from, bound(to))
				}
				return nil
			}
			return writeEventTable(w, v.Events, causes)
		},
	}
	cmd.Flags().Uint32Var(&from, "from", 0, "first sequence to print")
	cmd.Flags().BoolVar(&causes, "causes", false, "add correlation id, depth and triggering event columns")
	cmd.Flags().Uint32Var(&to, "to", 0, "first sequence NOT to print (0: no bound)")
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	addDescriptorFlag(cmd, &descriptorSets)
	return cmd
}

func bound(to uint32) string {
	if to == 0 {
		return "∞"
	}
	return fmt.Sprint(to)
}

// getEvents reads the events of agg in [lower, upper) (both 0: the latest
// snapshot and the events from its sequence on), merging the books a long
// history arrives in.
func (c *client) getEvents(cmd *cobra.Command, agg aggregate, descriptorSets []string, lower, upper uint32) (bookView, error) {
	reg, err := loadRegistry(descriptorSets)
	if err != nil {
		return bookView{}, err
	}
	books, err := receiveAll(cmd, c, func(ctx context.Context, cn grpc.ClientConnInterface) (grpc.ServerStreamingClient[eventedpb.EventBook], error) {
		return eventedpb.NewEventQueryClient(cn).GetEvents(ctx, &eventedpb.Query{
			Domain: agg.domain, Root: agg.cover().GetRoot(), LowerBound: lower, UpperBound: upper,
		})
	})
	if err != nil {
		return bookView{}, err
	}
	v := bookView{Domain: agg.domain, Root: agg.root.String(), Events: []eventView{}}
	for _, b := range books {
		reg.AddBook(&v, b)
	}
	return v, nil
}

func newSnapshotCmd(load loader) *cobra.Command {
	c := &client{load: load, port: queryPort}
	var out output
	var descriptorSets []string
	cmd := &cobra.Command{
		Use:   "snapshot DOMAIN ID",
		Short: "Print an aggregate's latest snapshot and the events after it",
		Long: `Print the latest snapshot of aggregate ID of DOMAIN — its state, decoded when
the type is known, and its sequence: the number of events folded into it — and the
events stored after it: what a command handler is given as prior state.
(EventQuery.GetEvents with both bounds 0.)

A snapshot exists only when the domain's business logic returned one
(EventBook.snapshot) and its snapshot policy kept it, or an automatic snapshot
policy took it. evented snapshots lists the older ones kept (snapshots.keep).

` + idHelp,
		Example: `  evented snapshot customer cust-001
  evented snapshot customer cust-001 -o json | jq .snapshot.state`,
		Args:              aggregateArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			agg, err := newAggregate(args[0], args[1])
			if err != nil {
				return err
			}
			v, err := c.getEvents(cmd, agg, descriptorSets, 0, 0)
			if err != nil {
				return err
			}
			if out == "json" {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, agg)
			s := v.Snapshot
			if s == nil {
				fmt.Fprintf(w, "no snapshot: the %d events below are the whole prior state "+
					"(business logic stores one by returning EventBook.snapshot)\n", len(v.Events))
			} else {
				state := payload{JSON: s.State, Base64: s.StateBase64}.Text()
				folded := "no events folded in"
				if s.Sequence > 0 {
					folded = fmt.Sprintf("events 0 to %d folded in", s.Sequence-1)
				}
				fmt.Fprintf(w, "snapshot at sequence %d (%s), %s:\n%s\n", s.Sequence, folded, s.Type, state)
				fmt.Fprintf(w, "%d events after it\n", len(v.Events))
			}
			if len(v.Events) == 0 {
				return nil
			}
			return writeEvents(w, v.Events)
		},
	}
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	addDescriptorFlag(cmd, &descriptorSets)
	return cmd
}
