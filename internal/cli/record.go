package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/grpcapi"
)

func newRecordCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	var descriptorSets []string
	var key string
	num := -1
	cmd := &cobra.Command{
		Use:   "record DOMAIN ID TYPE JSON [TYPE JSON]...",
		Short: "Append pre-made events to an aggregate, without business logic (imports, fixes)",
		Long: `Append events as they are to the aggregate ID of DOMAIN through a running server's
BusinessCoordinator.Record (the caller needs role record when authentication is on), and
print them as stored. No business logic is asked; projectors, sagas and the bus get
the events like any others. Each TYPE JSON pair is one event: its protobuf message by
full name and its content in protobuf's JSON mapping.

With --expect N the first event must get sequence N (the aggregate's next one), else
nothing is stored: the optimistic check, for a writer that read the aggregate first.
ID is a UUID or a name, as in evented send.

` + descriptorHelp,
		Example: `  evented record customer cust-001 examples.CustomerCreated '{"name":"Alice","email":"a@example.com"}'
  evented record customer cust-001 examples.LoyaltyPointsAdded '{"points":5}' examples.LoyaltyPointsAdded '{"points":7}' --expect 1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 4 || len(args)%2 != 0 {
				return fmt.Errorf("want DOMAIN ID and TYPE JSON pairs, got %d argument(s); e.g. evented record customer cust-001 examples.CustomerCreated '{\"name\":\"Alice\"}'", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			agg, err := newAggregate(args[0], args[1])
			if err != nil {
				return err
			}
			reg, err := loadRegistry(descriptorSets)
			if err != nil {
				return err
			}
			book := &eventedpb.EventBook{Cover: agg.cover()}
			for i := 2; i < len(args); i += 2 {
				mt, err := reg.Message(args[i])
				if err != nil {
					return err
				}
				msg, err := reg.Parse(mt, args[i+1])
				if err != nil {
					return err
				}
				event, err := anypb.New(msg)
				if err != nil {
					return err
				}
				page := &eventedpb.EventPage{Event: event, Sequence: &eventedpb.EventPage_Force{Force: true}}
				if num >= 0 {
					page.Sequence = &eventedpb.EventPage_Num{Num: uint32(num + (i-2)/2)}
				}
				book.Pages = append(book.Pages, page)
			}
			cn, err := c.dial()
			if err != nil {
				return err
			}
			defer cn.Close()
			ctx, cancel := c.context(cmd.Context())
			defer cancel()
			if cmd.Flags().Changed("idempotency-key") {
				ctx = metadata.AppendToOutgoingContext(ctx, grpcapi.KeyMetadata, key)
			}
			var trailer metadata.MD
			resp, err := eventedpb.NewBusinessCoordinatorClient(cn).Record(ctx, book, grpc.Trailer(&trailer))
			if err != nil {
				return sendError(cn.explain(err, c.timeout), err, agg)
			}
			return printReply(cmd.OutOrStdout(), out, agg, reg, resp, trailer)
		},
	}
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	addDescriptorFlag(cmd, &descriptorSets)
	cmd.Flags().IntVar(&num, "expect", -1, "the sequence the first event must get (the optimistic check); default: the next one, whatever it is")
	cmd.Flags().StringVar(&key, "idempotency-key", "", "name the record so that repeating it stores nothing and prints the first result")
	return cmd
}
