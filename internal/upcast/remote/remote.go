// Package remote calls upcasters served over gRPC as evented.Upcaster (a
// user's service in Go, Python, Rust, …).
package remote

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/upcast"
)

// Upcaster is an upcast.Upcaster backed by a gRPC service. It connects
// lazily: a service that is down when evented starts is reached once it is
// up (reads needing it fail until then).
type Upcaster struct {
	address string
	conn    *grpc.ClientConn
	client  eventedpb.UpcasterClient
}

// Dial prepares a client of the Upcaster service at address (host:port).
func Dial(address string, opts ...grpc.DialOption) (*Upcaster, error) {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(address, opts...)
	if err != nil {
		return nil, fmt.Errorf("upcaster at %q: %w", address, err)
	}
	return &Upcaster{address: address, conn: conn, client: eventedpb.NewUpcasterClient(conn)}, nil
}

// Name says which service this is, for errors.
func (u *Upcaster) Name() string { return "upcaster at " + u.address }

// Upcast implements upcast.Upcaster with one call for all events. A
// service that cannot be reached (UNAVAILABLE, DEADLINE_EXCEEDED) gives an
// error matching eventstore.ErrUnavailable: reading through it is
// unavailable, and is tried again.
func (u *Upcaster) Upcast(ctx context.Context, domain string, events []upcast.Event) ([]upcast.Event, error) {
	req := &eventedpb.UpcastRequest{Domain: domain, Events: make([]*eventedpb.UpcastEvent, len(events))}
	for i, e := range events {
		req.Events[i] = &eventedpb.UpcastEvent{Event: &anypb.Any{TypeUrl: e.TypeURL, Value: e.Payload}, SchemaVersion: e.Version}
	}
	resp, err := u.client.Upcast(ctx, req)
	if err != nil {
		st := status.Convert(err)
		if st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded {
			return nil, fmt.Errorf("%s: %s: %w", u.Name(), st.Message(), eventstore.ErrUnavailable)
		}
		return nil, fmt.Errorf("%s: %s: %s", u.Name(), st.Code(), st.Message())
	}
	out := make([]upcast.Event, len(resp.GetEvents()))
	for i, e := range resp.GetEvents() {
		out[i] = upcast.Event{TypeURL: e.GetEvent().GetTypeUrl(), Version: e.GetSchemaVersion(), Payload: e.GetEvent().GetValue()}
	}
	return out, nil
}

// Close closes the connection.
func (u *Upcaster) Close() error { return u.conn.Close() }
