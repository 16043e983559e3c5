package ofp

import "encoding/binary"

var be = binary.BigEndian

// pad8 rounds n up to a multiple of 8.
func pad8(n int) int { return (n + 7) &^ 7 }

func appendZeros(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, 0)
	}
	return b
}

func appendU16(b []byte, v uint16) []byte { return be.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return be.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return be.AppendUint64(b, v) }

// putLen16 stores the length from off to the end of b at b[at:at+2].
func putLen16(b []byte, at, off int) { be.PutUint16(b[at:], uint16(len(b)-off)) }

// padTo8 pads b with zeros so that len(b)-off is a multiple of 8.
func padTo8(b []byte, off int) []byte { return appendZeros(b, pad8(len(b)-off)-(len(b)-off)) }

// allZero reports whether every byte of b is zero.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// cstring decodes a NUL-padded fixed-size string field.
func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// appendCString appends s NUL-padded (and truncated, keeping a NUL) to n
// bytes.
func appendCString(b []byte, s string, n int) []byte {
	if len(s) > n-1 {
		s = s[:n-1]
	}
	b = append(b, s...)
	return appendZeros(b, n-len(s))
}

func errLen(t ErrorType, code uint16, what string, have, want int) *Error {
	return Errorf(t, code, "%s: %d bytes, need %d", what, have, want)
}
