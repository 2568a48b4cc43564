package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/protoview"
)

// rootView is one aggregate known to the store.
type rootView struct {
	Domain string `json:"domain"`
	Root   string `json:"root"`
	// Name is the name the root was derived from, when an event kept it.
	Name string `json:"name,omitempty"`
}

// maxNamed bounds how many aggregates one listing looks up names for: one
// read of the first events each.
const maxNamed = 1000

func newAggregatesCmd(load loader) *cobra.Command {
	c := &client{load: load, port: queryPort}
	var out output
	var descriptorSets []string
	names := true
	cmd := &cobra.Command{
		Use:   "aggregates [DOMAIN]",
		Short: "List the aggregates a running server has stored events for",
		Long: `List every aggregate (domain and root UUID) with stored events, ordered by domain
then root, from a running server's EventQuery.GetAggregateRoots; with DOMAIN, only
that domain's. Roots are UUIDs: a name such as cust-001 was stored as its
name-based UUID, which evented events customer cust-001 prints.

NAME, shown when one is known, is the name a root was derived from, as the console
shows it: found in the aggregate's first events, a payload field whose name-based
UUID is the root. The first 3 events of each of the first 1000 aggregates listed
are read and decoded for it (--descriptor-set for your types); --names=false
skips these reads.`,
		Example: `  evented aggregates
  evented aggregates customer -o json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := loadRegistry(descriptorSets)
			if err != nil {
				return err
			}
			all, err := receiveAll(cmd, c, func(ctx context.Context, cn grpc.ClientConnInterface) (grpc.ServerStreamingClient[eventedpb.AggregateRoot], error) {
				return eventedpb.NewEventQueryClient(cn).GetAggregateRoots(ctx, &emptypb.Empty{})
			})
			if err != nil {
				return err
			}
			roots := []rootView{}
			for _, r := range all {
				if len(args) == 1 && r.GetDomain() != args[0] {
					continue
				}
				roots = append(roots, rootView{Domain: r.GetDomain(), Root: rootText(r.GetRoot())})
			}
			if names {
				if err := c.name(cmd, reg, roots[:min(len(roots), maxNamed)]); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if out == "json" {
				return writeJSON(w, roots)
			}
			if len(roots) == 0 {
				if len(args) == 1 {
					fmt.Fprintf(w, "no aggregates in domain %q\n", args[0])
				} else {
					fmt.Fprintln(w, "no aggregates: nothing is stored yet (evented send stores a first event)")
				}
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			named := slices.ContainsFunc(roots, func(r rootView) bool { return r.Name != "" })
			if named {
				fmt.Fprintln(tw, "DOMAIN\tNAME\tROOT")
			} else {
				fmt.Fprintln(tw, "DOMAIN\tROOT")
			}
			for _, r := range roots {
				if named {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Domain, r.Name, r.Root)
				} else {
					fmt.Fprintf(tw, "%s\t%s\n", r.Domain, r.Root)
				}
			}
			return tw.Flush()
		},
	}
	c.addFlags(cmd, 30*time.Second)
	addOutputFlag(cmd, &out)
	addDescriptorFlag(cmd, &descriptorSets)
	cmd.Flags().BoolVar(&names, "names", true, "look up the name each root was derived from in its first events")
	return cmd
}

// name fills in the names of roots from their first events
// (protoview.NameFromEvents), a few reads at a time on one connection.
func (c *client) name(cmd *cobra.Command, reg *registry, roots []rootView) error {
	cn, err := c.dial()
	if err != nil {
		return err
	}
	defer cn.Close()
	ctx, cancel := c.context(cmd.Context())
	defer cancel()
	q := eventedpb.NewEventQueryClient(cn)
	errs := make([]error, len(roots))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(4, len(roots)) {
		wg.Go(func() {
			for i := range next {
				roots[i].Name, errs[i] = firstName(ctx, q, reg, roots[i])
			}
		})
	}
	for i := range roots {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return cn.explain(err, c.timeout)
		}
	}
	return nil
}

// firstName is the name r's root was derived from, as its first events
// keep it, or "".
func firstName(ctx context.Context, q eventedpb.EventQueryClient, reg *registry, r rootView) (string, error) {
	root, err := uuid.Parse(r.Root)
	if err != nil {
		return "", nil // not a UUID: not derived from a name
	}
	stream, err := q.GetEvents(ctx, &eventedpb.Query{Domain: r.Domain, Root: &eventedpb.UUID{Value: root[:]}, UpperBound: protoview.NameEvents})
	if err != nil {
		return "", err
	}
	v := bookView{Events: []eventView{}}
	for {
		b, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", err
		}
		reg.AddBook(&v, b)
	}
	return protoview.NameFromEvents(root, v.Events), nil
}
