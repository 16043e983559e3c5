package ofp

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func u16(v uint16) []byte { return putUintN(uint64(v), 2) }

func TestMatchValidateErrors(t *testing.T) {
	ip := OXMUint(FieldEthType, 0x0800)
	tcp := OXMUint(FieldIPProto, 6)
	cases := []struct {
		name   string
		fields []OXM
		code   uint16
		inText string
	}{
		{"unknown field", []OXM{{Class: ClassBasic, Field: 99, Value: []byte{1}}}, BadMatchBadField, "unknown field"},
		{"bad length", []OXM{NewOXM(FieldEthType, []byte{8}, nil)}, BadMatchBadLen, "eth_type"},
		{"mask not allowed", []OXM{NewOXM(FieldEthType, u16(0x0800), u16(0xff00))}, BadMatchBadMask, "eth_type cannot be masked"},
		{"value outside mask", []OXM{NewOXM(FieldEthDst, []byte{1, 2, 3, 4, 5, 6}, []byte{0xff, 0, 0, 0, 0, 0})}, BadMatchBadWildcards, "eth_dst"},
		{"duplicate", []OXM{ip, ip}, BadMatchDupField, "eth_type appears twice"},
		{"prereq missing", []OXM{OXMUint(FieldIPv4Src, 0x01020304)}, BadMatchBadPrereq, "ipv4_src needs eth_type=0x0800"},
		{"prereq after", []OXM{tcp, ip}, BadMatchBadPrereq, "ip_proto needs"},
		{"prereq wrong value", []OXM{OXMUint(FieldEthType, 0x86dd), OXMUint(FieldIPv4Dst, 1)}, BadMatchBadPrereq, "ipv4_dst"},
		{"tcp port on udp", []OXM{ip, OXMUint(FieldIPProto, 17), OXMUint(FieldTCPDst, 80)}, BadMatchBadPrereq, "tcp_dst needs ip_proto=6"},
		{"icmpv4 on ipv6", []OXM{OXMUint(FieldEthType, 0x86dd), OXMUint(FieldIPProto, 1), OXMUint(FieldICMPv4Type, 8)}, BadMatchBadPrereq, "icmpv4_type"},
		{"nd_sll on NA", []OXM{OXMUint(FieldEthType, 0x86dd), OXMUint(FieldIPProto, 58), OXMUint(FieldICMPv6Type, 136), NewOXM(FieldIPv6NDSLL, make([]byte, 6), nil)}, BadMatchBadPrereq, "icmpv6_type=135"},
		{"vlan_pcp untagged", []OXM{OXMUint(FieldVLANVID, 0), OXMUint(FieldVLANPCP, 3)}, BadMatchBadPrereq, "vlan_pcp"},
		{"vlan_pcp range", []OXM{OXMUint(FieldVLANVID, 0x1005), OXMUint(FieldVLANPCP, 9)}, BadMatchBadValue, "vlan_pcp=0x9"},
		{"vlan_vid range", []OXM{OXMUint(FieldVLANVID, 0x2000)}, BadMatchBadValue, "vlan_vid"},
		{"dscp range", []OXM{ip, OXMUint(FieldIPDSCP, 64)}, BadMatchBadValue, "ip_dscp"},
		{"flabel range", []OXM{OXMUint(FieldEthType, 0x86dd), OXMUint(FieldIPv6FLabel, 0x100000)}, BadMatchBadValue, "ipv6_flabel"},
		{"in_phy_port alone", []OXM{OXMUint(FieldInPhyPort, 1)}, BadMatchBadPrereq, "in_phy_port needs in_port"},
	}
	for _, c := range cases {
		m := Match{Fields: c.fields}
		err := m.Validate()
		if !isErr(err, ErrBadMatch, c.code) {
			t.Errorf("%s: got %v, want %s", c.name, err, ErrorName(ErrBadMatch, c.code))
			continue
		}
		if !strings.Contains(err.Error(), c.inText) {
			t.Errorf("%s: %q does not name %q", c.name, err, c.inText)
		}
	}
	// Valid ones.
	ok := []Match{
		{},
		{Fields: []OXM{ip, tcp, OXMUint(FieldTCPDst, 0x1000, 0xf000), OXMUint(FieldIPv4Dst, 0xcb007100, 0xffffff00)}},
		{Fields: []OXM{OXMUint(FieldVLANVID, 0x1000, 0x1000), OXMUint(FieldVLANPCP, 5)}},
		{Fields: []OXM{OXMUint(FieldEthType, 0x86dd), OXMUint(FieldIPProto, 58), OXMUint(FieldICMPv6Type, 135), NewOXM(FieldIPv6NDTarget, make([]byte, 16), nil), NewOXM(FieldIPv6NDSLL, make([]byte, 6), nil)}},
		{Fields: []OXM{OXMUint(FieldEthType, 0x0806), OXMUint(FieldARPOp, 1), OXMUint(FieldARPSPA, 0xcb007101)}},
		{Fields: []OXM{OXMUint(FieldReg0+3, 7, 0xff), OXMUint(FieldTunnelID, 42), OXMUint(FieldTunIPv4Src, 0xc6120001), OXMUint(FieldMetadata, 1, 0xff)}},
		{Fields: []OXM{ip, tcp, OXMUint(FieldTCPFlags, 0x002, 0x012)}},
	}
	for i, m := range ok {
		if err := m.Validate(); err != nil {
			t.Errorf("valid match %d: %v", i, err)
		}
	}
}

func TestMatchCanonicalNXM(t *testing.T) {
	// NXM spellings as ovs-ofctl sends them with OpenFlow 1.0.
	nxm := Match{Fields: []OXM{
		{Class: ClassNXM0, Field: 0, Value: u16(0xfffe)},                          // NXM_OF_IN_PORT LOCAL
		{Class: ClassNXM0, Field: 4, Value: u16(0x1000 | 0x6000 | 10), Mask: nil}, // vlan_tci: VID 10, PCP 3
		{Class: ClassNXM0, Field: 3, Value: u16(0x0800)},
		{Class: ClassNXM0, Field: 5, Value: []byte{0x28}}, // nw_tos 40 = dscp 10
		{Class: ClassNXM0, Field: 6, Value: []byte{6}},
		{Class: ClassNXM0, Field: 10, Value: u16(443)},
		{Class: ClassNXM1, Field: 16, Value: putUintN(0x2a, 8)},                                         // tun_id
		{Class: ClassNXM1, Field: 112, Value: putUintN(0x10, 16), Mask: bytes.Repeat([]byte{0xff}, 16)}, // xxreg1 → reg4..7
	}}
	c, err := nxm.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	want := []OXM{
		OXMUint(FieldInPort, uint64(PortLocal)),
		OXMUint(FieldVLANVID, 0x100a),
		OXMUint(FieldVLANPCP, 3),
		OXMUint(FieldEthType, 0x0800),
		OXMUint(FieldIPDSCP, 10),
		OXMUint(FieldIPProto, 6),
		OXMUint(FieldTCPDst, 443),
		OXMUint(FieldTunnelID, 0x2a),
		OXMUint(FieldReg0+4, 0), OXMUint(FieldReg0+5, 0), OXMUint(FieldReg0+6, 0), OXMUint(FieldReg0+7, 0x10),
	}
	if !reflect.DeepEqual(c.Fields, want) {
		t.Errorf("canonical\n got %v\nwant %v", c.Fields, want)
	}
	// Canonical is a fixed point and spells back to what ovs-ofctl sent
	// (registers aside).
	c2, err := c.Canonical()
	if err != nil || !reflect.DeepEqual(c2.Fields, c.Fields) {
		t.Errorf("canonical of canonical differs: %v %v", err, c2.Fields)
	}
	back := c.NXM()
	for i := 0; i < 7; i++ {
		if back.Fields[i].Class != nxm.Fields[i].Class || back.Fields[i].Field != nxm.Fields[i].Field || !bytes.Equal(back.Fields[i].Value, nxm.Fields[i].Value) {
			if !(i == 1 && back.Fields[1].Field == 4) {
				t.Errorf("NXM entry %d: %+v, want %+v", i, back.Fields[i], nxm.Fields[i])
			}
		}
	}
	// vlan_tci masks: untagged, tagged-any, partial PCP.
	for _, c := range []struct {
		v, m uint16
		want []OXM
		err  bool
	}{
		{0, 0xffff, []OXM{OXMUint(FieldVLANVID, 0)}, false},
		{0x1000, 0x1000, []OXM{OXMUint(FieldVLANVID, 0x1000, 0x1000)}, false},
		{0x6000, 0xe000, []OXM{OXMUint(FieldVLANVID, 0x1000, 0x1000), OXMUint(FieldVLANPCP, 3)}, false},
		{0x2000, 0x2000, nil, true},
	} {
		m := Match{Fields: []OXM{{Class: ClassNXM0, Field: 4, Value: u16(c.v), Mask: u16(c.m)}}}
		got, err := m.Canonical()
		if (err != nil) != c.err {
			t.Errorf("vlan_tci 0x%04x/0x%04x: err %v", c.v, c.m, err)
			continue
		}
		if !c.err && !reflect.DeepEqual(got.Fields, c.want) {
			t.Errorf("vlan_tci 0x%04x/0x%04x: %v, want %v", c.v, c.m, got.Fields, c.want)
		}
	}
	// Two spellings of one field are a duplicate.
	dup := Match{Fields: []OXM{OXMUint(FieldReg0, 1), OXMUint(FieldXReg0, 5)}}
	if _, err := dup.Canonical(); !isErr(err, ErrBadMatch, BadMatchDupField) {
		t.Errorf("reg0 + xreg0: %v", err)
	}
}

func TestMatch10RoundTrip(t *testing.T) {
	cases := []Match{
		{},
		{Fields: []OXM{OXMUint(FieldInPort, 3), OXMUint(FieldVLANVID, 0)}},
		{Fields: []OXM{OXMUint(FieldVLANVID, 0x1000|100), OXMUint(FieldVLANPCP, 5), OXMUint(FieldEthType, 0x0800), OXMUint(FieldIPDSCP, 46), OXMUint(FieldIPProto, 17), OXMUint(FieldIPv4Src, 0xc6120000, 0xffff0000), OXMUint(FieldUDPDst, 4789)}},
		{Fields: []OXM{OXMUint(FieldEthType, 0x0806), OXMUint(FieldARPOp, 2), OXMUint(FieldARPTPA, 0xcb007102)}},
		{Fields: []OXM{OXMUint(FieldEthType, 0x0800), OXMUint(FieldIPProto, 1), OXMUint(FieldICMPv4Type, 8), OXMUint(FieldICMPv4Code, 0)}},
		{Fields: []OXM{NewOXM(FieldEthSrc, []byte{2, 0, 0, 0, 0, 1}, nil), NewOXM(FieldEthDst, []byte{2, 0, 0, 0, 0, 2}, nil)}},
	}
	for i, m := range cases {
		b, exact := appendMatch10(nil, &m)
		if !exact || len(b) != match10Len {
			t.Fatalf("case %d: exact %v len %d", i, exact, len(b))
		}
		got, err := parseMatch10(b)
		if err != nil {
			t.Fatal(err)
		}
		cg, cw := canonical(t, got), canonical(t, m)
		if !sameFields(cg, cw) {
			t.Errorf("case %d:\n got %v\nwant %v", i, cg.Fields, cw.Fields)
		}
	}
	// What 1.0 cannot say is reported, not silently encoded.
	for _, m := range []Match{
		{Fields: []OXM{OXMUint(FieldReg0, 1)}},
		{Fields: []OXM{OXMUint(FieldEthType, 0x0800), OXMUint(FieldIPv4Src, 0x01000001, 0xff0000ff)}},
		{Fields: []OXM{NewOXM(FieldEthDst, []byte{1, 0, 0, 0, 0, 0}, []byte{1, 0, 0, 0, 0, 0})}},
	} {
		if _, exact := appendMatch10(nil, &m); exact {
			t.Errorf("%v encoded as exact OpenFlow 1.0", m.Fields)
		}
	}
	// 1.0 fields without their prerequisites do not apply.
	var raw [match10Len]byte
	be.PutUint32(raw[:], fw10AllWords&^(fw10TPDst|fw10NWProto))
	raw[25] = 6
	be.PutUint16(raw[38:], 80)
	got, err := parseMatch10(raw[:])
	if err != nil || len(got.Fields) != 0 {
		t.Errorf("tp_dst without dl_type: %v %v", got.Fields, err)
	}
}

// sameFields compares matches as sets of entries.
func sameFields(a, b Match) bool {
	if len(a.Fields) != len(b.Fields) {
		return false
	}
	for _, x := range a.Fields {
		found := false
		for _, y := range b.Fields {
			if reflect.DeepEqual(x, y) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		e        *Error
		v        uint8
		typ, cod uint16
		exp      uint32
	}{
		{&Error{Type: ErrBadMatch, Code: BadMatchBadPrereq}, Version13, 4, 9, 0},
		{&Error{Type: ErrBadMatch, Code: BadMatchBadPrereq}, Version10, 1, 260, 0},
		{&Error{Type: ErrFlowModFailed, Code: FlowModFailedOverlap}, Version10, 3, 1, 0},
		{&Error{Type: ErrFlowModFailed, Code: FlowModFailedBadTableID}, Version10, 1, 512, 0},
		{&Error{Type: ErrBadInstruction, Code: BadInstructionDupInst}, Version13, 0xffff, 2600, ExperimenterONF},
		{&Error{Type: ErrBadRequest, Code: BadRequestIsSlave}, Version13, 1, 10, 0},
		{&Error{Type: ErrBadRequest, Code: BadRequestIsSlave}, Version10, 1, 5, 0},
		{&Error{Type: ErrRoleRequestFailed, Code: RoleRequestFailedStale}, Version13, 11, 0, 0},
		{&Error{Type: ErrMeterModFailed, Code: MeterModFailedBadBand}, Version10, 1, 5, 0},
	}
	for _, c := range cases {
		m := NewErrorMsg(c.v, c.e, []byte("0123456789"))
		if m.ErrType != c.typ || m.Code != c.cod || m.Experimenter != c.exp {
			t.Errorf("%v in %s: (%d,%d,%#x), want (%d,%d,%#x)", c.e, VersionName(c.v), m.ErrType, m.Code, m.Experimenter, c.typ, c.cod, c.exp)
		}
		back := m.Err(c.v)
		// EPERM is where unmappable errors land; (1,512) is also
		// OFPBRC_BAD_TABLE_ID.
		if (c.typ != 1 || c.cod != 5) && c.cod != 512 {
			if back.Type != c.e.Type || back.Code != c.e.Code {
				t.Errorf("%v in %s decodes back as %v", c.e, VersionName(c.v), back)
			}
		}
		if !bytes.Equal(m.Data, []byte("0123456789")) {
			t.Errorf("data %q", m.Data)
		}
	}
	// At most 64 bytes of the request.
	if m := NewErrorMsg(Version13, &Error{Type: ErrBadRequest, Code: BadRequestBadLen}, make([]byte, 1000)); len(m.Data) != 64 {
		t.Errorf("error data %d bytes", len(m.Data))
	}
	if typ, code := ErrorFor(errPlain("boom")); typ != ErrBadRequest || code != BadRequestEPerm {
		t.Errorf("plain error maps to %d/%d", typ, code)
	}
}

type errPlain string

func (e errPlain) Error() string { return string(e) }
