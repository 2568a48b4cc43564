// Package acceptance holds evented's acceptance tests: Gherkin scenarios in
// features/*.feature, written in business words and run with godog by
// `go test ./tests/acceptance/...`.
//
// Each scenario starts its own evented server in-process (SQLite in a temp
// dir, ports 0 on 127.0.0.1), a stub business logic service, and the stub
// projectors and sagas it configures (each a real gRPC service on
// 127.0.0.1 that records what it is given), and talks to evented only over
// gRPC, with the generated clients of package eventedpb. The steps see the
// server through its two addresses, so they can also drive a binary started
// elsewhere.
//
// What evented does in the background (deliveries, sagas' commands) is
// awaited for at most 10 seconds; "once X has caught up" waits until the
// subscriber's checkpoint, listed by DeliveryAdmin, reaches the log's head,
// so that a duplicate delivery would have arrived.
//
// Scenarios tagged @bug show a bug of evented not fixed yet: TestKnownBugs
// runs them and reports each while it fails (go test -v), and fails once one
// passes, so that the tag goes with the fix.
package acceptance
