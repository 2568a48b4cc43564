package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/evented/evented/api/eventedpb"
)

// discardView is what a discard dropped.
type discardView struct {
	Subscriber string     `json:"subscriber"`
	Discarded  uint64     `json:"discarded"`
	Aggregates []rootView `json:"aggregates"`
}

func newDiscardCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	var only []string
	var yes bool
	cmd := &cobra.Command{
		Use:   "discard SUBSCRIBER --yes",
		Short: "Drop a subscriber's parked events without delivering them (recorded, never silent)",
		Long: `Drop SUBSCRIBER's parked events (DeliveryAdmin.DiscardParked): they are never
delivered to it, and each aggregate flows again from its next event. With --aggregate,
only those aggregates'. The server logs every discard at WARN with the caller and the
dropped events' positions and types, and counts it (evented_parked_discarded_total).
--yes is required: look at them first with evented parked SUBSCRIBER.`,
		Example: `  evented discard receipt --yes
  evented discard receipt --aggregate transaction/txn-042 --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return errors.New("a discard drops parked events for good: look at them with evented parked " + args[0] + ", then confirm with --yes")
			}
			q := &eventedpb.DiscardRequest{Subscriber: args[0], Confirm: true}
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
			res, err := eventedpb.NewDeliveryAdminClient(cn).DiscardParked(ctx, q)
			if err != nil {
				return cn.explain(err, c.timeout)
			}
			v := discardView{Subscriber: args[0], Discarded: res.GetDiscarded(), Aggregates: []rootView{}}
			for _, cv := range res.GetCovers() {
				v.Aggregates = append(v.Aggregates, rootView{Domain: cv.GetDomain(), Root: rootText(cv.GetRoot())})
			}
			w := cmd.OutOrStdout()
			if out == "json" {
				return writeJSON(w, v)
			}
			fmt.Fprintf(w, "%s: %d parked events discarded (logged by the server at WARN)\n", args[0], v.Discarded)
			for _, a := range v.Aggregates {
				fmt.Fprintf(w, "  %s %s flows again\n", a.Domain, a.Root)
			}
			return nil
		},
	}
	c.addFlags(cmd, time.Minute)
	addOutputFlag(cmd, &out)
	cmd.Flags().StringArrayVar(&only, "aggregate", nil, "discard only this aggregate's, as DOMAIN/ID (repeatable; ID a UUID or a name)")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm: the parked events are dropped for good")
	return cmd
}
