package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/evented/evented/api/eventedpb"
)

// deadlineView is one pending deadline as the CLI shows it.
type deadlineView struct {
	ID     string `json:"id"`
	Due    string `json:"due"`
	Domain string `json:"domain"`
	Root   string `json:"root"`
	// Commands are the command's pages, decoded like events.
	Commands    []payload `json:"commands"`
	Key         string    `json:"idempotency_key"`
	ScheduledAt string    `json:"scheduled_at"`
}

func newDeadlinesCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	var descriptorSets []string
	var domain string
	var limit uint32
	cmd := &cobra.Command{
		Use:   "deadlines",
		Short: "List the pending deadlines: commands business logic and sagas scheduled for later",
		Long: `List the pending deadlines of a running server (DeliveryAdmin.ListDeadlines on the
command port), earliest first: each with its id, due time, the aggregate and command it
dispatches, and the idempotency key that command goes with. A fired or cancelled deadline
is no longer listed.`,
		Example: `  evented deadlines
  evented deadlines --domain transaction -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := loadRegistry(descriptorSets)
			if err != nil {
				return err
			}
			all, err := receiveAll(cmd, c, func(ctx context.Context, cn grpc.ClientConnInterface) (grpc.ServerStreamingClient[eventedpb.PendingDeadline], error) {
				return eventedpb.NewDeliveryAdminClient(cn).ListDeadlines(ctx, &eventedpb.DeadlineQuery{Domain: domain, Limit: limit})
			})
			if err != nil {
				return err
			}
			views := []deadlineView{}
			for _, d := range all {
				v := deadlineView{ID: d.GetId(), Due: timeText(d.GetDue(), time.RFC3339Nano),
					Domain: d.GetCommand().GetCover().GetDomain(), Root: rootText(d.GetCommand().GetCover().GetRoot()),
					Key: d.GetKey(), ScheduledAt: timeText(d.GetScheduledAt(), time.RFC3339)}
				for _, p := range d.GetCommand().GetPages() {
					v.Commands = append(v.Commands, reg.Any(p.GetCommand()))
				}
				views = append(views, v)
			}
			return list(cmd.OutOrStdout(), out, views, "no pending deadlines", "DUE\tID\tDOMAIN\tROOT\tCOMMAND", func(v deadlineView) string {
				typ := ""
				if len(v.Commands) > 0 {
					typ = v.Commands[0].Type
				}
				return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", v.Due, v.ID, v.Domain, v.Root, typ)
			}, fmt.Sprintf("%d pending", len(views)))
		},
	}
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	addDescriptorFlag(cmd, &descriptorSets)
	cmd.Flags().StringVar(&domain, "domain", "", "only the deadlines whose command is for this domain")
	cmd.Flags().Uint32Var(&limit, "limit", 0, "at most this many (0: the server's default, 1000)")
	return cmd
}
