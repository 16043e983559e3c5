package capture

import (
	"fmt"

	"github.com/switchyard-net/switchyard/internal/errs"
)

// Direction is which frames of a port a capture sees: received (In),
// sent (Out), or Both.
type Direction uint8

// Directions.
const (
	Both Direction = iota
	In
	Out
)

func (d Direction) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	}
	return "both"
}

// ParseDirection parses in, out or both ("" is both).
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "", "both", "inout":
		return Both, nil
	case "in":
		return In, nil
	case "out":
		return Out, nil
	}
	return Both, errs.Invalidf("direction", "in, out, both", "%q", s)
}

func (d Direction) wants(x Direction) bool { return d == Both || d == x }

var _ = fmt.Sprint
