// Package sdk helps write evented business logic, projectors and sagas in Go.
//
// evented stores events and calls your services over gRPC; this package
// turns typed Go functions into those services. It depends on the
// generated API (package eventedpb), gRPC and protobuf only — never on the
// server or its storage drivers.
//
// # Business logic: an Aggregate
//
// An Aggregate[S] decides what commands mean for one domain. S is your
// state type; its zero value is a new aggregate. Register how events change
// the state (Apply), what each command type means (Handle), and optionally
// snapshots (Snapshot, Restore):
//
//	agg := sdk.NewAggregate[State]("customer")
//	sdk.Apply(agg, func(s *State, e *examplespb.CustomerCreated) { s.Exists = true })
//	sdk.Handle(agg, func(s *State, c *examplespb.CreateCustomer) ([]proto.Message, error) {
//		if s.Exists {
//			return nil, sdk.Reject("customer already exists") // FAILED_PRECONDITION
//		}
//		return []proto.Message{&examplespb.CustomerCreated{Name: c.GetName()}}, nil
//	})
//	err := sdk.Serve(ctx, ":50052", agg)
//
// For each command evented sends the aggregate's latest snapshot and the
// events after it; the SDK rebuilds S from them, runs the handler, applies
// the new events (so the snapshot and the next command of the same book
// see them) and numbers them from the aggregate's next sequence. Reject and
// Invalid become FAILED_PRECONDITION and INVALID_ARGUMENT for the client;
// any other error is INTERNAL.
//
// # Projectors and sagas
//
// A Projector[S] builds read models, a Saga[S] sends commands to other
// aggregates; both fold a state S from the books evented delivers (Apply,
// Restore) and call typed handlers for the new events (On, React). A
// synchronous projector's Project turns the state into the Projection
// evented puts into the command's reply. What a book holds depends on
// evented's configuration of the consumer, which WithHistory must match:
//
//   - history: true — the aggregate's latest snapshot and every event after
//     it, the new ones last. The state is complete; handlers see the newest
//     event (the last page).
//   - history: false (the default) — only the new events; handlers see each.
//     WithEventQuery reads the earlier events from evented, so the state is
//     complete too.
//
// # Serving and testing
//
// Serve runs one gRPC server for any number of aggregates (routed by
// domain), at most one projector and one saga, with gRPC health; ServeTLS
// serves TLS (ServerTLSConfig). Package sdktest tests them with
// Given/When/Then, without a server.
//
// # Clients
//
// Dial connects to evented with TLS (WithCAFile, WithClientCertificate) and
// a bearer token (WithToken) sent as "authorization: Bearer <token>" on
// every call; WithIdempotencyKey names a command so that sending it again
// stores nothing twice.
//
// Aggregate ids: Root maps a name ("cust-001") to the aggregate's UUID the
// same way in every language and in evented's CLI.
//
// # From your own module
//
// The module github.com/evented/evented is not published yet: a module
// outside the checkout requires it at v0.0.0 and replaces it with the
// checkout (or, without those two lines, a workspace holds both: go work
// init . /path/to/evented):
//
//	require github.com/evented/evented v0.0.0
//
//	replace github.com/evented/evented => /path/to/evented
//
// Once it is published, delete the replace line and go get
// github.com/evented/evented@VERSION. `evented init --lang go NAME` writes
// such a module, with the logic, its test and the messages' Go code.
package sdk
