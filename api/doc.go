// Package api holds the generated Go code of evented's wire contract.
//
//   - eventedpb: package evented (BusinessCoordinator, EventQuery, BusinessLogic,
//     ProjectorCoordinator, SagaCoordinator, ProjectionQuery and their
//     messages).
//   - examplespb: package examples, the messages of the example domain.
//
// The .proto sources live in proto/. Regenerate with one command from the
// repository root:
//
//	go generate ./api
//
// CI regenerates and fails when the checked-in code differs.
package api

//go:generate sh -c "cd .. && go tool -modfile=tools/go.mod buf generate"
