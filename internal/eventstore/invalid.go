package eventstore

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched by every *InvalidError.
var ErrInvalid = errors.New("invalid argument")

// InvalidError reports bad input: the field (as the client named it), and
// what is wrong with it and what is allowed.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns an *InvalidError for field with a formatted reason.
func Invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
