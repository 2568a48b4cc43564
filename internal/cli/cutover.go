package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/evented/evented/api/eventedpb"
)

type cutOverView struct {
	Projector string `json:"projector"`
	Version   uint32 `json:"version"`
	Previous  uint32 `json:"previous"`
}

func newCutOverCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	var force bool
	cmd := &cobra.Command{
		Use:   "cutover PROJECTOR VERSION",
		Short: "Make a version of a projector the active one (blue/green), on every replica",
		Long: `Make VERSION of PROJECTOR the active one (DeliveryAdmin.CutOver). A projector
configured in several versions (projectors[].version) runs them side by side: a newer
version starts from the beginning under its own checkpoints, its catching up delivered
with evented-replay: true, while the active one goes on. After the cut-over, VERSION's
projections are the ones in command replies, and older versions retire: they deliver
nothing more and give their leases back (remove them from the configuration when you
are done). Replicas see the cut-over within a third of delivery.lease_ttl.

It is refused while VERSION is still catching up (evented subscriptions shows REPLAY),
unless --force. A version set to cutover: auto cuts over by itself once caught up.`,
		Example: `  evented cutover receipt 2
  evented cutover receipt 1 --force   # back to version 1`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.ParseUint(args[1], 10, 32)
			if err != nil || v < 1 {
				return fmt.Errorf("version %q: want a whole number, 1 or more, as in projectors[].version", args[1])
			}
			cn, err := c.dial()
			if err != nil {
				return err
			}
			defer cn.Close()
			ctx, cancel := c.context(cmd.Context())
			defer cancel()
			res, err := eventedpb.NewDeliveryAdminClient(cn).CutOver(ctx, &eventedpb.CutOverRequest{Projector: args[0], Version: uint32(v), Force: force})
			if err != nil {
				return cn.explain(err, c.timeout)
			}
			view := cutOverView{Projector: res.GetProjector(), Version: res.GetVersion(), Previous: res.GetPrevious()}
			w := cmd.OutOrStdout()
			if out == "json" {
				return writeJSON(w, view)
			}
			fmt.Fprintf(w, "%s: version %d is active (was %d); older versions retire within a third of delivery.lease_ttl\n", view.Projector, view.Version, view.Previous)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "cut over even while the version is still catching up")
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	return cmd
}
