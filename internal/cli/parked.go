package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/evented/evented/api/eventedpb"
)

// parkedView is one parked event as the CLI shows it.
type parkedView struct {
	Subscriber string `json:"subscriber"`
	Position   uint64 `json:"position"`
	Domain     string `json:"domain"`
	Root       string `json:"root"`
	eventView
	Reason   string `json:"reason"`
	Attempts uint32 `json:"attempts"`
	ParkedAt string `json:"parked_at"`
}

// replayView is what a replay did.
type replayView struct {
	Subscriber string              `json:"subscriber"`
	Replayed   uint64              `json:"replayed"`
	Failed     []replayFailureView `json:"failed"`
}

type replayFailureView struct {
	Domain string `json:"domain"`
	Root   string `json:"root"`
	Error  string `json:"error"`
}

func newParkedCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	var descriptorSets []string
	cmd := &cobra.Command{
		Use:   "parked SUBSCRIBER",
		Short: "List the events a projector, saga or the bus relay gave up on (parked), with why",
		Long: `List SUBSCRIBER's parked (dead-lettered) events, in log order, from a running server
(DeliveryAdmin.ListParked on the command port): each with its aggregate, sequence, type,
payload decoded like evented events, the reason and the attempts. An aggregate's events
after a parked one are parked behind it, so that its order holds; evented replay
delivers them again. SUBSCRIBER is a projector's or saga's name, or bus for the relay
(evented subscriptions lists them).`,
		Example: `  evented parked receipt
  evented parked loyalty -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := loadRegistry(descriptorSets)
			if err != nil {
				return err
			}
			all, err := receiveAll(cmd, c, func(ctx context.Context, cn grpc.ClientConnInterface) (grpc.ServerStreamingClient[eventedpb.ParkedEvent], error) {
				return eventedpb.NewDeliveryAdminClient(cn).ListParked(ctx, &eventedpb.ParkedQuery{Subscriber: args[0]})
			})
			if err != nil {
				return err
			}
			parked := []parkedView{}
			for _, p := range all {
				page := p.GetPage()
				parked = append(parked, parkedView{
					Subscriber: p.GetSubscriber(), Position: p.GetPosition(),
					Domain: p.GetCover().GetDomain(), Root: rootText(p.GetCover().GetRoot()),
					eventView: eventView{Sequence: page.GetNum(), CreatedAt: timeText(page.GetCreatedAt(), time.RFC3339Nano),
						Payload: reg.Any(page.GetEvent()), Cause: newCauseView(page.GetMetadata())},
					Reason: p.GetReason(), Attempts: p.GetAttempts(), ParkedAt: timeText(p.GetParkedAt(), time.RFC3339),
				})
			}
			return list(cmd.OutOrStdout(), out, parked, fmt.Sprintf("no parked events for %s", args[0]),
				"POSITION\tDOMAIN\tROOT\tSEQUENCE\tTYPE\tATTEMPTS\tREASON", func(p parkedView) string {
					return fmt.Sprintf("%d\t%s\t%s\t%d\t%s\t%d\t%s", p.Position, p.Domain, p.Root, p.Sequence, p.Type, p.Attempts, oneLine(p.Reason))
				}, fmt.Sprintf("%d parked; deliver them again with: evented replay %s", len(parked), args[0]))
		},
	}
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	addDescriptorFlag(cmd, &descriptorSets)
	return cmd
}

func newReplayCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	var only []string
	cmd := &cobra.Command{
		Use:   "replay SUBSCRIBER",
		Short: "Deliver a subscriber's parked events again; aggregates that go through flow again",
		Long: `Deliver SUBSCRIBER's parked events again (DeliveryAdmin.ReplayParked), each
aggregate's in order, in books that fit the consumer. An aggregate whose parked events
all go through is unparked and its later events flow again; one that fails again stays
parked and is reported, and the command exits 1. With --aggregate, only those.`,
		Example: `  evented replay receipt
  evented replay receipt --aggregate transaction/txn-042 --aggregate transaction/txn-043`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := &eventedpb.ParkedQuery{Subscriber: args[0]}
			covers, err := aggregateCovers(only)
			if err != nil {
				return err
			}
			q.Covers = covers
			cn, err := c.dial()
			if err != nil {
				return err
			}
			defer cn.Close()
			ctx, cancel := c.context(cmd.Context())
			defer cancel()
			res, err := eventedpb.NewDeliveryAdminClient(cn).ReplayParked(ctx, q)
			if err != nil {
				return cn.explain(err, c.timeout)
			}
			v := replayView{Subscriber: args[0], Replayed: res.GetReplayed(), Failed: []replayFailureView{}}
			for _, f := range res.GetFailed() {
				v.Failed = append(v.Failed, replayFailureView{Domain: f.GetCover().GetDomain(), Root: rootText(f.GetCover().GetRoot()), Error: f.GetError()})
			}
			w := cmd.OutOrStdout()
			if out == "json" {
				if err := writeJSON(w, v); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(w, "%s: %d parked events delivered and unparked\n", args[0], v.Replayed)
				for _, f := range v.Failed {
					fmt.Fprintf(w, "still parked: %s %s: %s\n", f.Domain, f.Root, oneLine(f.Error))
				}
			}
			if len(v.Failed) > 0 {
				return fmt.Errorf("%d aggregates failed again and stay parked (evented parked %s shows them)", len(v.Failed), args[0])
			}
			return nil
		},
	}
	c.addFlags(cmd, 5*time.Minute)
	addOutputFlag(cmd, &out)
	cmd.Flags().StringArrayVar(&only, "aggregate", nil, "replay only this aggregate, as DOMAIN/ID (repeatable; ID a UUID or a name)")
	return cmd
}

// oneLine folds a multi-line message into one line for a table cell.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// aggregateCovers parses --aggregate values (DOMAIN/ID each) into covers.
func aggregateCovers(values []string) ([]*eventedpb.Cover, error) {
	var covers []*eventedpb.Cover
	for _, a := range values {
		domain, id, ok := strings.Cut(a, "/")
		if !ok {
			return nil, fmt.Errorf("--aggregate %q: want DOMAIN/ID, e.g. transaction/txn-042", a)
		}
		agg, err := newAggregate(domain, id)
		if err != nil {
			return nil, fmt.Errorf("--aggregate %q: %w", a, err)
		}
		covers = append(covers, agg.cover())
	}
	return covers, nil
}
