package capture

import (
	"fmt"
	"strings"
)

// Tokens of a filter expression (pcap-filter(7) syntax).
type tokKind uint8

const (
	tEOF  tokKind = iota
	tWord         // identifier, number, address
	tOp           // ( ) [ ] : ! && || & | ^ + - * / % << >> = == != < > <= >=
)

type token struct {
	kind tokKind
	text string
	pos  int  // 1-based character position, for errors
	esc  bool // written with a backslash (\tcp): a protocol name, not a keyword
}

// FilterError is a filter expression that does not compile: Pos is the
// 1-based character position at fault.
type FilterError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *FilterError) Error() string {
	if e.Pos > 0 {
		return fmt.Sprintf("filter: %s (at character %d of %q)", e.Msg, e.Pos, e.Expr)
	}
	return fmt.Sprintf("filter: %s (in %q)", e.Msg, e.Expr)
}

func isWordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isWordChar(c byte) bool { return isWordStart(c) || c == '.' || c == '-' }

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// lex splits an expression into tokens. Addresses are single words:
// 198.18.0.0/15, 2001:db8::1, ::1, 02:00:00:00:00:01. Inside brackets a
// colon is the size separator of proto[offset:size].
func lex(expr string) ([]token, error) {
	var toks []token
	depth := 0
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '\\':
			j := i + 1
			for j < len(expr) && isWordChar(expr[j]) {
				j++
			}
			if j == i+1 {
				return nil, &FilterError{expr, i + 1, "a backslash must be followed by a protocol name, like \\tcp"}
			}
			toks = append(toks, token{tWord, expr[i+1 : j], i + 1, true})
			i = j
			continue
		case isWordStart(c) || c == ':' && depth == 0 && i+1 < len(expr) && expr[i+1] == ':':
			j := i
			for j < len(expr) && isWordChar(expr[j]) {
				j++
			}
			// An IPv6 address or a MAC address: hex groups and colons
			// (and dots, for a v4-mapped tail).
			if depth == 0 && j < len(expr) && expr[j] == ':' && allHex(expr[i:j]) {
				for j < len(expr) && (isHex(expr[j]) || expr[j] == ':' || expr[j] == '.') {
					j++
				}
			}
			// A prefix length: 198.18.0.0/15, 2001:db8::/32.
			if j+1 < len(expr) && expr[j] == '/' && expr[j+1] >= '0' && expr[j+1] <= '9' && strings.ContainsAny(expr[i:j], ".:") {
				j++
				for j < len(expr) && expr[j] >= '0' && expr[j] <= '9' {
					j++
				}
			}
			toks = append(toks, token{tWord, expr[i:j], i + 1, false})
			i = j
			continue
		}
		// Operators: two characters first.
		if i+1 < len(expr) {
			switch two := expr[i : i+2]; two {
			case "&&", "||", "<<", ">>", "<=", ">=", "==", "!=":
				toks = append(toks, token{tOp, two, i + 1, false})
				i += 2
				continue
			}
		}
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		}
		if strings.IndexByte("()[]:!&|^+-*/%<>=", c) < 0 {
			return nil, &FilterError{expr, i + 1, fmt.Sprintf("unexpected character %q", c)}
		}
		toks = append(toks, token{tOp, string(c), i + 1, false})
		i++
	}
	return append(toks, token{kind: tEOF, pos: len(expr) + 1}), nil
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}
