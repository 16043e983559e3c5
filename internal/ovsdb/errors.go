package ovsdb

import (
	"errors"
	"fmt"
)

// Error tags of RFC 7047 (section 4.1.3) and Open vSwitch's extensions.
const (
	ErrReferentialIntegrity = "referential integrity violation"
	ErrConstraint           = "constraint violation"
	ErrResources            = "resources exhausted"
	ErrIO                   = "I/O error"
	ErrDuplicateUUIDName    = "duplicate uuid-name"
	ErrDuplicateUUID        = "duplicate uuid"
	ErrDomain               = "domain error"
	ErrRange                = "range error"
	ErrTimedOut             = "timed out"
	ErrNotSupported         = "not supported"
	ErrAborted              = "aborted"
	ErrNotOwner             = "not owner"
	ErrSyntax               = "syntax error"
	ErrUnknownDatabase      = "unknown database"
	ErrNotAllowed           = "not allowed"
	ErrCanceled             = "canceled"
)

// Error is an OVSDB error as RFC 7047 puts it on the wire:
// {"error": Tag, "details": Details}.
type Error struct {
	Tag     string `json:"error"`
	Details string `json:"details,omitempty"`
}

func (e *Error) Error() string {
	if e.Details == "" {
		return e.Tag
	}
	return e.Tag + ": " + e.Details
}

// Errorf makes an *Error with a formatted details string.
func Errorf(tag, format string, a ...any) *Error {
	return &Error{Tag: tag, Details: fmt.Sprintf(format, a...)}
}

func syntaxErr(format string, a ...any) *Error { return Errorf(ErrSyntax, format, a...) }

func constraintErr(format string, a ...any) *Error { return Errorf(ErrConstraint, format, a...) }

// AsError turns any error into an *Error: an *Error (possibly wrapped)
// keeps its tag; anything else becomes tag (with the message as details).
func AsError(err error, tag string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Tag: tag, Details: err.Error()}
}
