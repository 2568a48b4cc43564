package sdk

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a decision of business logic that reaches the client as a gRPC
// status: evented passes it through unchanged.
type Error struct {
	Code    codes.Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// GRPCStatus makes the error a gRPC status (status.FromError finds it).
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// Reject refuses a command because of the aggregate's state: the client gets
// FAILED_PRECONDITION with msg, and nothing is stored.
//
//	return nil, sdk.Reject("customer does not exist")
func Reject(msg string) error { return &Error{Code: codes.FailedPrecondition, Message: msg} }

// Rejectf is Reject with a formatted message.
func Rejectf(format string, args ...any) error { return Reject(fmt.Sprintf(format, args...)) }

// Invalid refuses a command that is wrong whatever the state (a missing
// field, a negative amount): the client gets INVALID_ARGUMENT with msg.
func Invalid(msg string) error { return &Error{Code: codes.InvalidArgument, Message: msg} }

// Invalidf is Invalid with a formatted message.
func Invalidf(format string, args ...any) error { return Invalid(fmt.Sprintf(format, args...)) }

// toStatus turns what a handler returned into the status the caller gets:
// an *Error or a gRPC status passes through; anything else is a bug in the
// handler, INTERNAL, prefixed with where it happened.
func toStatus(where string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.GRPCStatus().Err()
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	return status.Errorf(codes.Internal, "%s: %v", where, err)
}
