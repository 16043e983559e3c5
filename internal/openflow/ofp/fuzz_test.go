package ofp

import (
	"bytes"
	"testing"
)

// Every decoder is fuzzed: it must not panic, and what it accepts must
// encode, decode again and encode to the same bytes (the codec is
// stable on everything it accepts). Seeds are the golden ovs-ofctl and
// ovs-vswitchd messages.

func goldenSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, g := range readGolden(f) {
		if len(g.raw) < 4096 {
			out = append(out, g.raw)
		}
	}
	return out
}

func stable(t *testing.T, o *Options, b1 []byte) {
	h, m, err := UnmarshalOptions(b1, o)
	if err != nil {
		t.Fatalf("re-decode of our own encoding failed: %v\n%x", err, b1)
	}
	b2, err := MarshalOptions(h.Version, h.XID, m, o)
	if err != nil {
		t.Fatalf("re-encode failed: %v", err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("encoding not stable\n%x\n%x", b1, b2)
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, tableID bool) {
		if len(b) >= 4 {
			// Keep the length consistent so that bodies get exercised.
			be.PutUint16(b[2:], uint16(len(b)))
		}
		o := &Options{FlowModTableID: tableID}
		h, m, err := UnmarshalOptions(b, o)
		if err != nil {
			// Decoding errors are typed: they carry the OpenFlow error
			// the peer must receive.
			if _, ok := err.(*Error); !ok {
				t.Fatalf("untyped error %v", err)
			}
			_ = NewErrorMsg(Version13, err, b)
			return
		}
		b1, err := MarshalOptions(h.Version, h.XID, m, o)
		if err != nil {
			return // e.g. a 1.0 flow stats request whose match 1.0 cannot re-express
		}
		stable(t, o, b1)
		// Validation of what a switch receives never panics either.
		switch x := m.(type) {
		case *FlowMod:
			_, _ = CheckFlowMod(x)
		case *GroupMod:
			_, _ = CheckGroupMod(x)
		case *MeterMod:
			_ = CheckMeterMod(x)
		case *PacketOut:
			_, _ = CheckPacketOut(x)
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		h, m, err := Unmarshal(s)
		if err != nil || h.Version != Version13 {
			continue
		}
		if fm, ok := m.(*FlowMod); ok {
			f.Add(fm.Match.appendOXMs(nil))
		}
	}
	f.Add([]byte{0x80, 0x00, 0x0a, 0x02, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := parseOXMs(b)
		if err != nil {
			return
		}
		m := Match{Fields: fields}
		if !bytes.Equal(m.appendOXMs(nil), b) {
			t.Fatalf("OXM list does not re-encode to its bytes")
		}
		c, err := m.Canonical()
		if err != nil {
			return
		}
		c2, err := c.Canonical()
		if err != nil {
			t.Fatalf("canonical match is not valid: %v", err)
		}
		if !bytes.Equal(c.appendOXMs(nil), c2.appendOXMs(nil)) {
			t.Fatalf("Canonical is not idempotent")
		}
		nxm := c.NXM()
		if _, err := nxm.Canonical(); err != nil {
			t.Fatalf("NXM spelling of a canonical match is invalid: %v (%v)", err, nxm.Fields)
		}
		b10, _ := appendMatch10(nil, &c)
		if _, err := parseMatch10(b10); err != nil {
			t.Fatalf("ofp10_match we wrote does not parse: %v", err)
		}
	})
}

func FuzzMatch10(f *testing.F) {
	f.Add(make([]byte, match10Len))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMatch10(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("a decoded ofp10_match is invalid: %v (%v)", err, m.Fields)
		}
		b1, exact := appendMatch10(nil, &m)
		if !exact {
			t.Fatalf("a decoded ofp10_match cannot be encoded again: %v", m.Fields)
		}
		m2, err := parseMatch10(b1)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := appendMatch10(nil, &m2)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("ofp10_match not stable\n%x\n%x", b1, b2)
		}
	})
}

func FuzzActions(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		h, m, err := UnmarshalOptions(s, &Options{FlowModTableID: true})
		if err != nil {
			continue
		}
		if fm, ok := m.(*FlowMod); ok {
			if b, err := AppendActions(nil, h.Version, ApplyActions(fm.Instructions)); err == nil {
				f.Add(b, h.Version == Version10)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, ten bool) {
		v := Version13
		if ten {
			v = Version10
		}
		acts, err := ParseActions(b, v)
		if err != nil {
			return
		}
		b1, err := AppendActions(nil, v, acts)
		if err != nil {
			return
		}
		acts2, err := ParseActions(b1, v)
		if err != nil {
			t.Fatalf("our action encoding does not parse: %v\n%x", err, b1)
		}
		b2, err := AppendActions(nil, v, acts2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("actions not stable: %v\n%x\n%x", err, b1, b2)
		}
		_, _ = NormalizeActions(acts, &Match{})
		_, _ = NormalizeActions(acts, nil)
	})
}

func FuzzInstructions(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		_, m, err := Unmarshal(s)
		if err != nil {
			continue
		}
		if fm, ok := m.(*FlowMod); ok && fm.Version == Version13 {
			if b, err := AppendInstructions(nil, fm.Instructions); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		insts, err := ParseInstructions(b)
		if err != nil {
			return
		}
		b1, err := AppendInstructions(nil, insts)
		if err != nil {
			return
		}
		insts2, err := ParseInstructions(b1)
		if err != nil {
			t.Fatalf("our instruction encoding does not parse: %v", err)
		}
		b2, _ := AppendInstructions(nil, insts2)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("instructions not stable")
		}
		_, _ = CheckInstructions(insts, &Match{}, 0)
	})
}

func FuzzMultipart(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		h, m, err := Unmarshal(s)
		if err != nil {
			continue
		}
		switch m.(type) {
		case *MultipartRequest:
			f.Add(s[HeaderLen:], h.Version == Version10, false)
		case *MultipartReply:
			f.Add(s[HeaderLen:], h.Version == Version10, true)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, ten, reply bool) {
		v := Version13
		if ten {
			v = Version10
		}
		var m Message
		var err error
		if reply {
			m, err = parseMultipartReply(body, v)
		} else {
			m, err = parseMultipartRequest(body, v)
		}
		if err != nil {
			return
		}
		b1, err := Marshal(v, 1, m)
		if err != nil {
			return
		}
		stable(t, nil, b1)
		if r, ok := m.(*MultipartReply); ok {
			if _, err := MarshalMultipartReply(v, 1, r.Body, 1024); err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("split error untyped: %v", err)
				}
			}
		}
	})
}
