// Package remote calls business logic served over gRPC as
// evented.BusinessLogic (a user's service in Go, Python, Rust, …).
package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/outage"
	"github.com/evented/evented/internal/wire"
)

// Logic is a business.Logic backed by a gRPC service. It connects lazily:
// a service that is down when evented starts is reached once it is up.
type Logic struct {
	domain, address string
	conn            *grpc.ClientConn
	client          eventedpb.BusinessLogicClient
	outage          *outage.Service
	history         history
	codec           codec
}

// ReportTo makes l report to s whether the service answers: a call that
// finds it UNAVAILABLE is an outage (one WARN, whoever notices it), any
// answer ends one. Call it before the first call.
func (l *Logic) ReportTo(s *outage.Service) { l.outage = s }

// report tells l's outage tracker what a call found.
func (l *Logic) report(err error) {
	if status.Code(err) == codes.Unavailable {
		l.outage.Down(errors.New(status.Convert(err).Message()))
	} else {
		l.outage.Up()
	}
}

// Dial prepares a client of the BusinessLogic service at address (host:port)
// that decides commands of domain. It does not wait for the service.
func Dial(domain, address string, opts ...grpc.DialOption) (*Logic, error) {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(address, opts...)
	if err != nil {
		return nil, fmt.Errorf("business logic of domain %q at %q: %w", domain, address, err)
	}
	return &Logic{domain: domain, address: address, conn: conn, client: eventedpb.NewBusinessLogicClient(conn), codec: newCodec()}, nil
}

// Name implements business.Logic.
func (l *Logic) Name() string {
	return fmt.Sprintf("business logic of domain %q at %s", l.domain, l.address)
}

// Handle implements business.Logic. The service's own rejections
// (FAILED_PRECONDITION, INVALID_ARGUMENT, …) come back as *Error with the
// service's status and message unchanged; transport failures name the service.
func (l *Logic) Handle(ctx context.Context, req business.Request) (business.Decision, error) {
	in, err := l.history.encode(req)
	if err != nil {
		return business.Decision{}, fmt.Errorf("%s: encode the request: %w", l.Name(), err)
	}
	book := new(eventedpb.EventBook)
	err = l.conn.Invoke(ctx, handleMethod, in, book, grpc.ForceCodecV2(l.codec))
	l.report(err)
	if err != nil {
		return business.Decision{}, l.wrap(err)
	}
	d, err := wire.Decision(book)
	if err != nil {
		return business.Decision{}, &business.MisbehaviourError{Service: l.Name(), Reason: "returned an invalid event book: " + err.Error()}
	}
	return d, nil
}

// Snapshot implements business.Snapshotter: the state after prior, as
// the service folds it. A service without the RPC (UNIMPLEMENTED) gives
// business.ErrNoSnapshots.
func (l *Logic) Snapshot(ctx context.Context, prior eventstore.Book) (business.Snapshot, error) {
	s, err := l.client.Snapshot(ctx, wire.PBBook(prior))
	l.report(err)
	if status.Code(err) == codes.Unimplemented {
		return business.Snapshot{}, fmt.Errorf("%s: %w", l.Name(), business.ErrNoSnapshots)
	}
	if err != nil {
		return business.Snapshot{}, l.wrap(err)
	}
	if s.GetState() == nil {
		return business.Snapshot{}, &business.MisbehaviourError{Service: l.Name(), Reason: "returned a snapshot without state"}
	}
	return business.Snapshot{TypeURL: s.GetState().GetTypeUrl(), State: s.GetState().GetValue()}, nil
}

// Close closes the connection.
func (l *Logic) Close() error { return l.conn.Close() }

func (l *Logic) wrap(err error) error {
	st := status.Convert(err)
	if tooLarge(st) {
		// gRPC's own refusal, on evented's side: not the service's answer.
		return &Error{Service: l.Name(), Status: status.Newf(codes.ResourceExhausted,
			"%s: %s; the bound is limits.max_call_bytes", l.Name(), st.Message())}
	}
	switch st.Code() {
	case codes.FailedPrecondition, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists,
		codes.PermissionDenied, codes.OutOfRange, codes.ResourceExhausted:
		// The service's own answer to the client: passed through as is.
		return &Error{Service: l.Name(), Status: st}
	case codes.Unknown, codes.Internal, codes.Unimplemented, codes.DataLoss:
		// A bug or a wrong endpoint on the other side: the client should know
		// which service it was, but not its internals.
		return &Error{Service: l.Name(), Status: status.Newf(codes.Internal, "%s failed: %s", l.Name(), st.Message())}
	default:
		return &Error{Service: l.Name(), Status: status.Newf(st.Code(), "%s: %s", l.Name(), st.Message())}
	}
}

// tooLarge reports whether st is gRPC's refusal of a message over the
// size a connection allows (limits.max_call_bytes for the services evented
// calls): the request evented would send, or the reply it received.
func tooLarge(st *status.Status) bool {
	if st.Code() != codes.ResourceExhausted {
		return false
	}
	// gRPC's words, on either side: "grpc: received message larger than
	// max", "trying to send message larger than max", "message after
	// decompression larger than max".
	return strings.Contains(st.Message(), "larger than max")
}

// Error is a failure reported by, or on the way to, a business service. It
// carries the gRPC status to give the client (see GRPCStatus).
type Error struct {
	Service string
	Status  *status.Status
}

func (e *Error) Error() string { return e.Status.Message() }

// GRPCStatus is the status the gRPC edge passes through to the client.
func (e *Error) GRPCStatus() *status.Status { return e.Status }

// Unavailable tells delivery that a saga's command failed because the
// business service is down, not because it refused the command.
func (e *Error) Unavailable() bool { return e.Status.Code() == codes.Unavailable }
