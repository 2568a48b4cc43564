// Package sdk helps write evented business logic, projectors and sagas in Go.
//
// It depends on the generated API (package eventedpb) and gRPC only: never on
// the server's storage drivers.
package sdk
