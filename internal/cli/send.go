package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/grpcapi"
	"github.com/evented/evented/internal/protoview"
)

func newSendCmd(load loader) *cobra.Command {
	c := &client{load: load, port: commandPort}
	var out output
	var descriptorSets []string
	var key string
	cmd := &cobra.Command{
		Use:   "send DOMAIN ID TYPE [JSON]",
		Short: "Send a command to an aggregate and print the events it stored",
		Long: `Send one command to the aggregate ID of DOMAIN through a running server's
BusinessCoordinator.Handle, and print the reply: the events as stored, with the
sequences evented assigned.

ID is a UUID or any string: a string that is not a UUID stands for its name-based
UUID (version 5, SHA-1, of "evented:" + ID in the URL namespace — the same in every
evented SDK), so cust-001 names the same aggregate everywhere. The UUID is printed.

TYPE is the command's protobuf message, by full name (examples.CreateCustomer) or
type URL (type.googleapis.com/examples.CreateCustomer). JSON is its content in
protobuf's JSON mapping ({} when omitted; - reads it from standard input).

With --idempotency-key, sending the same command again with the same key (within the
server's command.idempotency_retention) prints the events the first one stored, and
stores nothing: safe to repeat after a timeout or an UNAVAILABLE whose outcome is
unknown. The same key with another command is refused (ALREADY_EXISTS).

` + descriptorHelp,
		Example: `  evented send customer cust-001 examples.CreateCustomer '{"name":"Alice","email":"alice@example.com"}'
  evented send customer cust-001 examples.AddLoyaltyPoints '{"points":50}' -o json
  evented send orders 2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f shop.PlaceOrder - --descriptor-set shop.binpb < order.json
  evented send customer cust-001 examples.AddLoyaltyPoints '{"points":50}' --idempotency-key welcome-bonus-cust-001`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 || len(args) > 4 {
				return fmt.Errorf("want DOMAIN ID TYPE [JSON], got %d argument(s); e.g. evented send customer cust-001 examples.CreateCustomer '{\"name\":\"Alice\",\"email\":\"a@x\"}'", len(args))
			}
			return nil
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) != 2 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			r, err := loadRegistry(descriptorSets)
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			return r.Known(), cobra.ShellCompDirectiveNoFileComp
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
			mt, err := reg.Message(args[2])
			if err != nil {
				return err
			}
			body := "{}"
			if len(args) == 4 {
				body = args[3]
			}
			if body == "-" {
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("read the payload from standard input: %w", err)
				}
				body = string(b)
			}
			msg, err := reg.Parse(mt, body)
			if err != nil {
				return err
			}
			command, err := anypb.New(msg)
			if err != nil {
				return err
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
			resp, err := eventedpb.NewBusinessCoordinatorClient(cn).Handle(ctx, &eventedpb.CommandBook{
				Cover: agg.cover(),
				Pages: []*eventedpb.CommandPage{{Command: command}},
			}, grpc.Trailer(&trailer))
			if err != nil {
				return sendError(cn.explain(err, c.timeout), err, agg)
			}
			return printReply(cmd.OutOrStdout(), out, agg, reg, resp, trailer)
		},
	}
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	addDescriptorFlag(cmd, &descriptorSets)
	cmd.Flags().StringVar(&key, "idempotency-key", "", "name the command so that sending it again stores nothing and prints the first result (1 to 256 printable ASCII characters)")
	return cmd
}

// sendError adds what a refusal of a command means.
func sendError(explained, err error, agg aggregate) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%w\nThe server routes no business logic for domain %q: add it under business_logic in the server's configuration, or send to a configured domain", explained, agg.domain)
	case codes.FailedPrecondition:
		return fmt.Errorf("business logic rejected the command: %w", explained)
	case codes.InvalidArgument:
		return fmt.Errorf("the command is invalid: %w", explained)
	case codes.Aborted:
		return fmt.Errorf("%w\nOther writers kept appending to %s; nothing of this command was stored: send it again", explained, agg)
	case codes.AlreadyExists:
		return fmt.Errorf("%w\nThe key named another command; nothing was stored: use a new key for a new command", explained)
	}
	return explained
}

// printReply prints a Handle or Record reply, with the synchronous
// consumers that failed (from the trailer), as a table or JSON.
func printReply(w io.Writer, out output, agg aggregate, reg *protoview.Registry, resp *eventedpb.SynchronousProcessingResponse, trailer metadata.MD) error {
	v := reg.Reply(resp)
	v.DeliveryFailures = trailer.Get(grpcapi.FailuresTrailer)
	if out == "json" {
		return writeJSON(w, v)
	}
	return writeReply(w, agg, v)
}

func writeReply(w io.Writer, agg aggregate, v replyView) error {
	fmt.Fprintln(w, agg)
	n := 0
	for _, b := range v.Books {
		n += len(b.Events)
	}
	if n == 0 {
		fmt.Fprintln(w, "the command was accepted; business logic returned no events, nothing was stored")
	}
	for _, b := range v.Books {
		if b.Domain != agg.domain || b.Root != agg.root.String() {
			fmt.Fprintf(w, "\n%s %s\n", b.Domain, b.Root)
		}
		if len(b.Events) > 0 {
			if err := writeEvents(w, b.Events); err != nil {
				return err
			}
		}
	}
	for _, p := range v.Projections {
		text, blocks := p.Text(), [][2]string(nil)
		if p.JSON != nil {
			text, blocks = textBlocks(p.JSON)
		}
		fmt.Fprintf(w, "\nprojection by %s (at sequence %d): %s %s\n", p.Projector, p.Sequence, p.Type, text)
		writeTextBlocks(w, blocks)
	}
	for _, c := range v.Commands {
		var types []string
		for _, p := range c.Commands {
			types = append(types, p.Type+" "+p.Text())
		}
		fmt.Fprintf(w, "\nsaga sent to %s %s: %s\n", c.Domain, c.Root, strings.Join(types, "; "))
	}
	if len(v.DeliveryFailures) > 0 {
		fmt.Fprintln(w, "\nsynchronous consumers that failed (the events are stored; their subscriptions deliver them again):")
		for _, f := range v.DeliveryFailures {
			fmt.Fprintln(w, "  "+f)
		}
	}
	return nil
}
