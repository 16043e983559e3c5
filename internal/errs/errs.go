// Package errs holds Switchyard's typed domain errors: what kind of failure
// it is (invalid input, not found, already exists, failed to apply), the
// field at fault and the values it allows. Every layer returns them — the
// engine's validators, the store, the daemon's operations — and only the
// front ends translate them: the HTTP API to status codes, OpenFlow to
// ofp_error codes, OVSDB to RFC 7047 errors.
package errs

import (
	"errors"
	"fmt"
)

// Kind says what sort of failure an Error is.
type Kind uint8

// Kinds of errors.
const (
	// Invalid means the input is wrong: the field and the allowed values
	// say how. Nothing changed.
	Invalid Kind = iota
	// NotFound means a named object does not exist.
	NotFound
	// Exists means an object of that name or identity already exists.
	Exists
	// Failed means the input was fine but applying it failed (a device
	// could not be created, a disk write failed).
	Failed
	// Unsupported means the request is well formed but asks for something
	// this switch does not implement.
	Unsupported
)

var kindNames = [...]string{"invalid", "not-found", "exists", "failed", "unsupported"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Error is a domain error: its kind, the field at fault, what is wrong, the
// allowed values, and (for text inputs such as a flow) where in the text the
// problem is.
type Error struct {
	Kind    Kind   `json:"kind"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Allowed string `json:"allowed,omitempty"`
	// Offset is the 1-based position in the input text (a flow, a
	// command line) where the problem is; 0 when it does not apply.
	Offset int `json:"offset,omitempty"`
	// Err is the underlying cause, if any (not serialised).
	Err error `json:"-"`
}

func (e *Error) Error() string {
	s := e.Message
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Allowed != "" {
		s += "; allowed: " + e.Allowed
	}
	if e.Offset > 0 {
		s += fmt.Sprintf(" (at offset %d)", e.Offset)
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error of the same kind with no field set
// (so errors.Is(err, errs.ErrNotFound) works), or the same pointer.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Field == "" && t.Message == "" && t.Kind == e.Kind
}

// Sentinels for errors.Is: errors.Is(err, errs.ErrNotFound).
var (
	ErrInvalid     = &Error{Kind: Invalid}
	ErrNotFound    = &Error{Kind: NotFound}
	ErrExists      = &Error{Kind: Exists}
	ErrFailed      = &Error{Kind: Failed}
	ErrUnsupported = &Error{Kind: Unsupported}
)

// Invalidf returns an Invalid error for field, listing the allowed values.
func Invalidf(field, allowed, format string, a ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Allowed: allowed, Message: fmt.Sprintf(format, a...)}
}

// NotFoundf returns a NotFound error for field.
func NotFoundf(field, format string, a ...any) *Error {
	return &Error{Kind: NotFound, Field: field, Message: fmt.Sprintf(format, a...)}
}

// Existsf returns an Exists error for field.
func Existsf(field, format string, a ...any) *Error {
	return &Error{Kind: Exists, Field: field, Message: fmt.Sprintf(format, a...)}
}

// Failedf returns a Failed error for field wrapping cause (which may be nil).
func Failedf(field string, cause error, format string, a ...any) *Error {
	return &Error{Kind: Failed, Field: field, Message: fmt.Sprintf(format, a...), Err: cause}
}

// Unsupportedf returns an Unsupported error for field.
func Unsupportedf(field, format string, a ...any) *Error {
	return &Error{Kind: Unsupported, Field: field, Message: fmt.Sprintf(format, a...)}
}

// As returns err as an *Error if it is one (or wraps one).
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of err: its own if it is an *Error, Failed for any
// other non-nil error.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return Failed
}
