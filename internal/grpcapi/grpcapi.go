// Package grpcapi is evented's gRPC edge: it serves BusinessCoordinator on
// the command port and EventQuery on the query port, converting messages
// with package wire and errors with the table in errors.go. It is the only
// package that knows gRPC status codes.
package grpcapi

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/query"
	"github.com/evented/evented/internal/wire"
)

// Interceptors map every error a handler returns through the code table.
// With them comes the server's codec: a request that is not valid protobuf
// for its method is answered INVALID_ARGUMENT before any handler runs
// (see codec).
func Interceptors(log *slog.Logger) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(newCodec()),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := decodeError(req); err != nil {
				return nil, err
			}
			resp, err := h(ctx, req)
			return resp, toStatus(ctx, log, info.FullMethod, err)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return toStatus(ss.Context(), log, info.FullMethod, h(srv, checkedStream{ss}))
		}),
	}
}

// checkedStream fails RecvMsg for a message that did not decode.
type checkedStream struct{ grpc.ServerStream }

func (s checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return decodeError(m)
}

// Commands serves evented.BusinessCoordinator.
type Commands struct {
	eventedpb.UnimplementedBusinessCoordinatorServer
	Coordinator *command.Coordinator
	// Waits serves read-your-writes (metadata evented-wait-for); nil: the
	// response carries no position and waits are refused.
	Waits *Waits
}

// Handle implements BusinessCoordinator.Handle.
func (s *Commands) Handle(ctx context.Context, in *eventedpb.CommandBook) (*eventedpb.SynchronousProcessingResponse, error) {
	cmd, err := wire.CommandBook(in)
	if err != nil {
		return nil, err
	}
	if cmd.IdempotencyKey, err = idempotencyKey(ctx); err != nil {
		return nil, err
	}
	if cmd.Cause.CorrelationID, err = correlation(ctx); err != nil {
		return nil, err
	}
	wait, err := s.Waits.fromMetadata(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.Coordinator.Handle(ctx, cmd)
	if err != nil {
		return nil, err
	}
	reportFailures(ctx, res.Failures)
	out := response(res)
	return out, s.Waits.after(ctx, wait, &cmd.Cover, out)
}

// FailuresTrailer is the trailer that lists synchronous consumers that
// failed, "name: error" each; the events are committed all the same and the
// consumers' subscriptions deliver them again.
const FailuresTrailer = "evented-delivery-failures"

func reportFailures(ctx context.Context, failures []delivery.Failure) {
	if len(failures) == 0 {
		return
	}
	md := metadata.MD{}
	for _, f := range failures {
		md.Append(FailuresTrailer, f.Error())
	}
	_ = grpc.SetTrailer(ctx, md) // fails only outside a gRPC call
}

// Record implements BusinessCoordinator.Record.
func (s *Commands) Record(ctx context.Context, in *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	cover, err := wire.Cover(in.GetCover(), "cover")
	if err != nil {
		return nil, err
	}
	pages, err := wire.Pages(in.GetPages(), "pages")
	if err != nil {
		return nil, err
	}
	key, err := idempotencyKey(ctx)
	if err != nil {
		return nil, err
	}
	id, err := correlation(ctx)
	if err != nil {
		return nil, err
	}
	wait, err := s.Waits.fromMetadata(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.Coordinator.RecordKeyed(ctx, cover, pages, eventstore.Cause{CorrelationID: id}, key)
	if err != nil {
		return nil, err
	}
	out := response(res)
	return out, s.Waits.after(ctx, wait, &cover, out)
}

// KeyMetadata is the gRPC metadata that carries a command's idempotency
// key on Handle and Record.
const KeyMetadata = "idempotency-key"

// idempotencyKey is the request's idempotency key ("" when none was sent),
// validated.
func idempotencyKey(ctx context.Context) (string, error) {
	keys := metadata.ValueFromIncomingContext(ctx, KeyMetadata) // no copy of the whole metadata
	switch len(keys) {
	case 0:
		return "", nil
	case 1:
		return keys[0], command.CheckKey(keys[0])
	}
	return "", eventstore.Invalid(KeyMetadata, "sent %d times; send it once (1 to %d bytes of printable ASCII)", len(keys), command.MaxKeyLength)
}

// CorrelationKey is the gRPC metadata key of a request's correlation id,
// on Handle and Record: taken from the request when the client sends one
// (at most 128 printable ASCII characters), else a new UUID; returned in
// the response header either way, and stored with every event the request
// led to, through sagas too.
const CorrelationKey = "correlation-id"

// maxCorrelation bounds a client's correlation id.
const maxCorrelation = 128

// correlation returns the request's correlation id, or a new one, and
// sends it back in the response header.
func correlation(ctx context.Context) (string, error) {
	var id string
	if v := metadata.ValueFromIncomingContext(ctx, CorrelationKey); len(v) > 0 {
		id = v[len(v)-1]
		if err := validCorrelation(id); err != nil {
			return "", err
		}
	} else {
		id = uuid.NewString()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(CorrelationKey, id)) // fails only outside a gRPC call
	return id, nil
}

func validCorrelation(id string) error {
	if id == "" || len(id) > maxCorrelation {
		return eventstore.Invalid(CorrelationKey, "must be 1 to %d characters, got %d", maxCorrelation, len(id))
	}
	for i := range len(id) {
		if id[i] < 0x20 || id[i] > 0x7e {
			return eventstore.Invalid(CorrelationKey, "must be printable ASCII; byte %d is 0x%02x", i, id[i])
		}
	}
	return nil
}

func response(res command.Result) *eventedpb.SynchronousProcessingResponse {
	out := &eventedpb.SynchronousProcessingResponse{}
	for _, b := range res.Books {
		out.Books = append(out.Books, wire.PBBook(b))
	}
	for _, c := range res.Commands {
		out.Commands = append(out.Commands, wire.PBCommandBook(c))
	}
	for _, p := range res.Projections {
		out.Projections = append(out.Projections, &eventedpb.Projection{
			Cover: wire.PBCover(p.Cover), Projector: p.Projector, Sequence: p.Sequence,
			Projection: &anypb.Any{TypeUrl: p.TypeURL, Value: p.Payload},
		})
	}
	return out
}

// Queries serves evented.EventQuery.
type Queries struct {
	eventedpb.UnimplementedEventQueryServer
	Service *query.Service
	// Waits serves WaitFor; nil refuses it.
	Waits *Waits
	// MaxBookBytes bounds the payloads of one streamed book (0 means
	// maxBytesPerBook); keep it well under the response size limit.
	MaxBookBytes int
}

// WaitFor implements EventQuery.WaitFor.
func (s *Queries) WaitFor(ctx context.Context, in *eventedpb.WaitRequest) (*eventedpb.WaitResponse, error) {
	return s.Waits.waitFor(ctx, in)
}

// maxPagesPerBook and maxBytesPerBook bound one streamed EventBook, so a long
// history arrives as several books well under gRPC's 4 MiB message limit.
const (
	maxPagesPerBook = 1000
	maxBytesPerBook = 1 << 20
)

// GetEvents implements EventQuery.GetEvents.
func (s *Queries) GetEvents(in *eventedpb.Query, stream grpc.ServerStreamingServer[eventedpb.EventBook]) error {
	return s.answer(stream.Context(), in, stream.Send)
}

// Synchronize implements EventQuery.Synchronize: each query received is
// answered like GetEvents; an invalid query ends the stream.
func (s *Queries) Synchronize(stream grpc.BidiStreamingServer[eventedpb.Query, eventedpb.EventBook]) error {
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.answer(stream.Context(), in, stream.Send); err != nil {
			return err
		}
	}
}

// GetAggregateRoots implements EventQuery.GetAggregateRoots.
func (s *Queries) GetAggregateRoots(_ *emptypb.Empty, stream grpc.ServerStreamingServer[eventedpb.AggregateRoot]) error {
	return s.Service.Roots(stream.Context(), func(c eventstore.Cover) error {
		return stream.Send(&eventedpb.AggregateRoot{Domain: c.Domain, Root: wire.PBRoot(c.Root)})
	})
}

func (s *Queries) answer(ctx context.Context, in *eventedpb.Query, send func(*eventedpb.EventBook) error) error {
	if in.GetDomain() == "" {
		return eventstore.Invalid("domain", "must not be empty")
	}
	root, err := wire.Root(in.GetRoot(), "root")
	if err != nil {
		return err
	}
	cover := eventstore.Cover{Domain: in.GetDomain(), Root: root}
	book, err := s.Service.Events(ctx, query.Query{Cover: cover, Lower: in.GetLowerBound(), Upper: in.GetUpperBound()})
	if err != nil {
		return err
	}
	// Stream in chunks; the first carries the snapshot, an empty history
	// still gives one book with the cover.
	maxBook := s.MaxBookBytes
	if maxBook <= 0 {
		maxBook = maxBytesPerBook
	}
	first, events := true, book.Events
	for first || len(events) > 0 {
		n, size := 0, 0
		// The snapshot counts toward the first book: a large one goes
		// alone, so that no book is a large snapshot and a large event.
		alone := first && book.Snapshot != nil
		if alone {
			size = len(book.Snapshot.State)
		}
		for n < len(events) && n < maxPagesPerBook && (n == 0 && !alone || size+len(events[n].Payload) <= maxBook) {
			size += len(events[n].Payload)
			n++
		}
		chunk := eventstore.Book{Cover: cover, Events: events[:n]}
		if first {
			chunk.Snapshot = book.Snapshot
		}
		if err := send(wire.PBBook(chunk)); err != nil {
			return err
		}
		first, events = false, events[n:]
	}
	return nil
}
