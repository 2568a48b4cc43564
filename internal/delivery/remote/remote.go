// Package remote delivers events to projectors and sagas served over gRPC.
//
// A projector implements evented.ProjectorCoordinator (Handle, HandleSync),
// a saga evented.SagaCoordinator. Services written for evented-rs that
// register only the legacy names evented.Projector / evented.Saga work too:
// when an endpoint answers UNIMPLEMENTED under the coordinator name, the
// legacy name is tried and remembered for that endpoint — no configuration.
package remote

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/wire"
)

// Kind says which service a consumer serves.
type Kind int

const (
	Projector Kind = iota
	Saga
)

func (k Kind) services() [2]string {
	if k == Saga {
		return [2]string{"evented.SagaCoordinator", "evented.Saga"}
	}
	return [2]string{"evented.ProjectorCoordinator", "evented.Projector"}
}

func (k Kind) String() string {
	if k == Saga {
		return "saga"
	}
	return "projector"
}

// NewFromHeader is the gRPC metadata key that carries the sequence of the
// first new event of a delivered book. Books of consumers configured with
// history: true start with the aggregate's earlier events; the pages from
// this sequence on are the ones being delivered now.
const NewFromHeader = "evented-new-from"

// ReplayHeader is the gRPC metadata key, set to "true", on a delivery of
// events the consumer was given before: the subscription was reset (a
// rebuild) or is a new version catching up. A projector rebuilds its read
// model as usual and holds side effects such as e-mails; a saga's commands
// in answer to a replay are dropped unless the reset asked for them.
const ReplayHeader = "evented-replay"

// Consumer is a delivery.Consumer backed by a gRPC projector or saga.
type Consumer struct {
	kind    Kind
	name    string
	address string
	timeout time.Duration
	conn    *grpc.ClientConn
	// legacy is set once the endpoint answered UNIMPLEMENTED under the
	// coordinator name and served the legacy one.
	legacy atomic.Bool
	// publish: a projector asked HandleSync on asynchronous deliveries too
	// (publish_projections), so that its projections are kept.
	publish bool
}

// ProjectionKeyHeader is the gRPC response header metadata key by which a
// projector's HandleSync names the key its projection is kept under for
// subscription queries (1..200 printable ASCII characters), instead of the
// aggregate's "domain/root".
const ProjectionKeyHeader = "evented-projection-key"

// PublishProjections makes a projector be asked HandleSync instead of
// Handle on its asynchronous deliveries, so that every delivery yields its
// projection (config key publish_projections). Call it before use.
func (c *Consumer) PublishProjections() { c.publish = true }

// Dial prepares a client of the consumer at address; it connects lazily, so
// a consumer that is down at start is reached once it is up. timeout
// bounds each call.
func Dial(kind Kind, name, address string, timeout time.Duration, opts ...grpc.DialOption) (*Consumer, error) {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(address, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s %q at %q: %w", kind, name, address, err)
	}
	return &Consumer{kind: kind, name: name, address: address, timeout: timeout, conn: conn}, nil
}

// Name implements delivery.Consumer.
func (c *Consumer) Name() string { return c.name }

// Close closes the connection.
func (c *Consumer) Close() error { return c.conn.Close() }

// Deliver implements delivery.Consumer. A projector is asked HandleSync
// when inline (its Projection goes into the reply) and Handle otherwise; a
// saga is always asked HandleSync, since its answer carries the commands
// evented dispatches (a saga serving only Handle is called with Handle).
func (c *Consumer) Deliver(ctx context.Context, book eventstore.Book, inline bool) (delivery.Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if seq, ok := delivery.NewFrom(ctx); ok {
		ctx = metadata.AppendToOutgoingContext(ctx, NewFromHeader, strconv.FormatUint(uint64(seq), 10))
	}
	if delivery.Replaying(ctx) {
		ctx = metadata.AppendToOutgoingContext(ctx, ReplayHeader, "true")
	}
	in := wire.PBBook(book)
	if c.kind == Projector && !inline && !c.publish {
		return delivery.Outcome{}, c.invoke(ctx, "Handle", in, &emptypb.Empty{})
	}
	if c.kind == Projector {
		var p eventedpb.Projection
		var md metadata.MD
		if err := c.invoke(ctx, "HandleSync", in, &p, grpc.Header(&md)); err != nil {
			return delivery.Outcome{}, err
		}
		out := c.projection(book.Cover, &p)
		if keys := md.Get(ProjectionKeyHeader); out != nil && len(keys) > 0 {
			if err := eventstore.CheckProjectionKey(keys[0]); err != nil {
				return delivery.Outcome{}, &Error{status.Newf(codes.InvalidArgument, "%s %q at %s answered %s %q: %v", c.kind, c.name, c.address, ProjectionKeyHeader, keys[0], err)}
			}
			out.Key = keys[0]
		}
		return delivery.Outcome{Projection: out}, nil
	}
	var resp eventedpb.SynchronousProcessingResponse
	err := c.invoke(ctx, "HandleSync", in, &resp)
	if status.Code(err) == codes.Unimplemented {
		return delivery.Outcome{}, c.invoke(ctx, "Handle", in, &emptypb.Empty{})
	}
	if err != nil {
		return delivery.Outcome{}, err
	}
	out := delivery.Outcome{}
	for i, b := range resp.GetCommands() {
		cmd, err := wire.CommandBook(b)
		if err != nil {
			return delivery.Outcome{}, fmt.Errorf("saga %q returned an invalid command (commands[%d]): %w", c.name, i, err)
		}
		out.Commands = append(out.Commands, cmd)
	}
	if out.Deadlines, err = wire.Deadlines(resp.GetDeadlines(), "deadlines"); err != nil {
		return delivery.Outcome{}, fmt.Errorf("saga %q returned an invalid deadline: %w", c.name, err)
	}
	return out, nil
}

// invoke calls method on the coordinator service name, or on the legacy
// name once the endpoint has shown it serves only that one.
func (c *Consumer) invoke(ctx context.Context, method string, in, out any, opts ...grpc.CallOption) error {
	names := c.kind.services()
	if !c.legacy.Load() {
		err := c.conn.Invoke(ctx, "/"+names[0]+"/"+method, in, out, opts...)
		if status.Code(err) != codes.Unimplemented {
			return c.wrap(err)
		}
	}
	err := c.conn.Invoke(ctx, "/"+names[1]+"/"+method, in, out, opts...)
	if err == nil && !c.legacy.Load() {
		c.legacy.Store(true)
	}
	if status.Code(err) == codes.Unimplemented && !c.legacy.Load() {
		return &Error{status.Newf(codes.Unimplemented, "%s %q at %s serves neither %s nor %s %s", c.kind, c.name, c.address, names[0], names[1], method)}
	}
	return c.wrap(err)
}

func (c *Consumer) wrap(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	if tooLarge(st) {
		return &Error{status.Newf(st.Code(), "%s %q at %s: %s; the bound is limits.max_call_bytes", c.kind, c.name, c.address, st.Message())}
	}
	return &Error{status.Newf(st.Code(), "%s %q at %s: %s", c.kind, c.name, c.address, st.Message())}
}

// tooLarge reports whether st is gRPC's refusal of a message over the size
// the connection allows (limits.max_call_bytes): the book evented would
// send, or the reply it received.
func tooLarge(st *status.Status) bool {
	return st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max")
}

// Error is a failed call to a projector or saga, with its gRPC status.
type Error struct{ Status *status.Status }

func (e *Error) Error() string { return e.Status.Message() }

// GRPCStatus is the call's status.
func (e *Error) GRPCStatus() *status.Status { return e.Status }

// Unavailable tells delivery the consumer is down or unreachable (it did
// not refuse the events), so the attempt does not count towards parking.
func (e *Error) Unavailable() bool { return e.Status.Code() == codes.Unavailable }

// Permanent tells delivery that trying again cannot help: the book is
// larger than the consumer (or gRPC) accepts, so it is parked at once.
func (e *Error) Permanent() bool { return e.Status.Code() == codes.ResourceExhausted }

func (c *Consumer) projection(cover eventstore.Cover, p *eventedpb.Projection) *delivery.Projection {
	if p.GetProjection() == nil {
		return nil // the projector had nothing to show for these events
	}
	out := &delivery.Projection{Cover: cover, Projector: p.GetProjector(), Sequence: p.GetSequence()}
	if out.Projector == "" {
		out.Projector = c.name
	}
	if p.GetProjection() != nil {
		out.TypeURL, out.Payload = p.GetProjection().GetTypeUrl(), p.GetProjection().GetValue()
	}
	return out
}

var _ delivery.Consumer = (*Consumer)(nil)
