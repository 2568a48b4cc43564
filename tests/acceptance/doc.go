// Package acceptance holds evented's acceptance tests: Gherkin scenarios in
// features/*.feature, written in business words and run with godog by
// `go test ./tests/acceptance/...`.
//
// Each scenario starts its own evented server in-process (SQLite in a temp
// dir, ports 0 on 127.0.0.1) and a stub business logic service, and talks to
// them only over gRPC, with the generated clients of package eventedpb. The
// steps see the server through its two addresses, so they can also drive a
// binary started elsewhere.
package acceptance
