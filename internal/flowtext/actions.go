package flowtext

import (
	"fmt"
	"strconv"
	"strings"

	dp "github.com/switchyard-net/switchyard/internal/datapath"
)

const actionsAllowed = "output:PORT, PORT, normal, flood, all, local, in_port, controller, drop, mod_vlan_vid:V, mod_vlan_pcp:P, strip_vlan, push_vlan:0x8100, " +
	"mod_dl_src:MAC, mod_dl_dst:MAC, mod_nw_src:IP, mod_nw_dst:IP, mod_nw_tos:TOS, mod_nw_ecn:E, mod_nw_ttl:T, mod_tp_src:P, mod_tp_dst:P, dec_ttl, " +
	"set_field:V->FIELD, load:V->FIELD[], move:SRC[]->DST[], resubmit:PORT, resubmit(PORT,TABLE), set_tunnel:ID, set_queue:Q, group:G, " +
	"goto_table:N, write_metadata:V/M, clear_actions, write_actions(...), meter:N"

// actions parses the actions of a line (base is their offset in it) into
// the flow's instructions.
func (p *parser) actions(s string, base int) error {
	in := &p.f.Instr
	toks := splitTop(s, base)
	if len(toks) == 0 {
		return errAt(token{pos: base}, "actions", actionsAllowed, "no actions (write actions=drop to drop)")
	}
	in.Apply = []dp.Action{}
	for i, t := range toks {
		name, val, hasVal := kv(t.text)
		if j := strings.IndexByte(t.text, '('); j > 0 && (!hasVal || j < len(name)) {
			name, val, hasVal = t.text[:j], t.text[j:], true
		}
		switch strings.ToLower(name) {
		case "goto_table":
			n, err := parseUint(val, 8)
			if err != nil || n >= dp.NumTables {
				return errAt(t, "goto_table", fmt.Sprintf("a later table, up to %d", dp.NumTables-1), "%q", val)
			}
			if i != len(toks)-1 {
				return errAt(t, "goto_table", "the last action", "goto_table must come last")
			}
			in.Goto = int(n)
			continue
		case "write_metadata":
			v, m, err := parseIntMask(val, 64)
			if err != nil {
				return errAt(t, "write_metadata", "a 64-bit number, optionally /MASK", "%q", val)
			}
			in.WriteMetadata, in.Metadata, in.MetadataMask = true, v, m
			continue
		case "clear_actions":
			in.Clear = true
			continue
		case "write_actions":
			inner := strings.TrimSuffix(strings.TrimPrefix(val, "("), ")")
			for _, w := range splitTop(inner, t.pos+len(name)+1) {
				a, err := p.action(w)
				if err != nil {
					return err
				}
				if a != nil {
					in.Write = append(in.Write, *a)
				}
			}
			continue
		case "meter":
			n, err := parseUint(val, 32)
			if err != nil || n == 0 {
				return errAt(t, "meter", "a meter number 1-4294967295", "%q", val)
			}
			in.Meter = uint32(n)
			continue
		case "drop":
			if len(toks) > 1 {
				return errAt(t, "drop", "drop alone", "drop cannot be combined with other actions")
			}
			continue
		}
		a, err := p.action(t)
		if err != nil {
			return err
		}
		if a != nil {
			in.Apply = append(in.Apply, *a)
		}
	}
	return nil
}

// action parses one action (nil: a no-op such as note:).
func (p *parser) action(t token) (*dp.Action, error) {
	name, val, _ := kv(t.text)
	if j := strings.IndexByte(t.text, '('); j > 0 && (len(name) > j || !strings.ContainsAny(t.text[:j], "=:")) {
		name, val = t.text[:j], t.text[j:]
	}
	lname := strings.ToLower(name)
	out := func(port uint32) *dp.Action { return &dp.Action{Kind: dp.ActOutput, Port: port} }
	setf := func(f dp.Field, v uint64, push bool) *dp.Action {
		return &dp.Action{Kind: dp.ActSetField, Field: f, Value: dp.Value{Lo: v}, Mask: f.FullMask(), PushVLAN: push}
	}
	switch lname {
	case "output":
		if strings.HasPrefix(val, "(") {
			args := parseArgs(val)
			n, err := p.port(t, args["port"])
			if err != nil {
				return nil, err
			}
			a := out(n)
			if ml, ok := args["max_len"]; ok {
				m, err := parseUint(ml, 16)
				if err != nil {
					return nil, errAt(t, "max_len", "0-65535", "%q", ml)
				}
				a.MaxLen = uint16(m)
			}
			return a, nil
		}
		if strings.Contains(val, "[") { // output:REG[START..END] (Nicira's output_reg)
			f, ofs, nbits, err := subfield(val)
			if err != nil || nbits > 32 {
				return nil, errAt(t, "output", "output:PORT or output:FIELD[START..END] (at most 32 bits)", "%q", val)
			}
			return &dp.Action{Kind: dp.ActOutputReg, Src: f, SrcOfs: uint8(ofs), NBits: uint8(nbits), MaxLen: 0xffff}, nil
		}
		n, err := p.port(t, val)
		if err != nil {
			return nil, err
		}
		return out(n), nil
	case "exit":
		return &dp.Action{Kind: dp.ActExit}, nil
	case "normal", "flood", "all", "local", "in_port":
		return out(reservedPorts[strings.ToUpper(lname)]), nil
	case "controller":
		a := &dp.Action{Kind: dp.ActOutput, Port: dp.PortController, MaxLen: 0xffff}
		switch {
		case strings.HasPrefix(val, "("):
			args := parseArgs(val)
			a.Reason = dp.PacketInAction // if it becomes an ActController
			if ml, ok := args["max_len"]; ok {
				m, err := parseUint(ml, 16)
				if err != nil {
					return nil, errAt(t, "max_len", "0-65535", "%q", ml)
				}
				a.MaxLen = uint16(m)
			}
			if r, ok := args["reason"]; ok {
				n, ok := packetInReasons[r]
				if !ok {
					return nil, errAt(t, "reason", "action, no_match, invalid_ttl, action_set, group or packet_out", "%q", r)
				}
				a.Kind, a.Reason = dp.ActController, n
			}
			if id, ok := args["id"]; ok {
				n, err := parseUint(id, 16)
				if err != nil {
					return nil, errAt(t, "id", "a controller id 0-65535", "%q", id)
				}
				a.Kind, a.ControllerID = dp.ActController, uint16(n)
			}
			if u, ok := args["userdata"]; ok {
				b, err := parseHexBytes(u)
				if err != nil {
					return nil, errAt(t, "userdata", "hex bytes separated by dots, like 01.02.ff", "%q", u)
				}
				a.Kind, a.Userdata = dp.ActController, string(b)
			}
		case val != "":
			m, err := parseUint(val, 16)
			if err != nil {
				return nil, errAt(t, "controller", "controller, controller:MAX_LEN or controller(max_len=N,reason=R,id=N,userdata=HEX)", "%q", val)
			}
			a.MaxLen = uint16(m)
		}
		if a.Kind == dp.ActOutput {
			a.Reason = 0 // a plain output to the controller carries no reason of its own
		}
		return a, nil
	case "mod_vlan_vid", "set_vlan_vid":
		n, err := parseUint(val, 16)
		if err != nil || n > 4095 {
			return nil, errAt(t, name, "0-4095", "%q", val)
		}
		return setf(dp.FieldVLANVID, n|0x1000, true), nil
	case "mod_vlan_pcp", "set_vlan_pcp":
		n, err := parseUint(val, 8)
		if err != nil || n > 7 {
			return nil, errAt(t, name, "0-7", "%q", val)
		}
		return setf(dp.FieldVLANPCP, n, true), nil
	case "strip_vlan", "pop_vlan":
		return &dp.Action{Kind: dp.ActPopVLAN}, nil
	case "push_vlan":
		n, err := parseUint(val, 16)
		if err != nil || n != 0x8100 && n != 0x88a8 {
			return nil, errAt(t, "push_vlan", "0x8100 or 0x88a8", "%q", val)
		}
		return &dp.Action{Kind: dp.ActPushVLAN, EtherType: uint16(n)}, nil
	case "mod_dl_src", "mod_dl_dst":
		v, err := parseMAC(val)
		if err != nil {
			return nil, errAt(t, name, "a MAC like 02:00:00:00:00:01", "%q", val)
		}
		f := dp.FieldEthSrc
		if lname == "mod_dl_dst" {
			f = dp.FieldEthDst
		}
		return setf(f, v, false), nil
	case "mod_nw_src", "mod_nw_dst":
		v, m, err := parseIPv4Mask(val)
		if err != nil || m.Lo != 0xffffffff {
			return nil, errAt(t, name, "an IPv4 address", "%q", val)
		}
		f := dp.FieldIPv4Src
		if lname == "mod_nw_dst" {
			f = dp.FieldIPv4Dst
		}
		return setf(f, v.Lo, false), nil
	case "mod_nw_tos":
		n, err := parseUint(val, 8)
		if err != nil || n&3 != 0 {
			return nil, errAt(t, name, "0-255 with the two low (ECN) bits zero", "%q", val)
		}
		return setf(dp.FieldIPDSCP, n>>2, false), nil
	case "mod_nw_ecn":
		n, err := parseUint(val, 8)
		if err != nil || n > 3 {
			return nil, errAt(t, name, "0-3", "%q", val)
		}
		return setf(dp.FieldIPECN, n, false), nil
	case "mod_nw_ttl":
		n, err := parseUint(val, 8)
		if err != nil {
			return nil, errAt(t, name, "0-255", "%q", val)
		}
		return setf(dp.FieldIPTTL, n, false), nil
	case "mod_tp_src", "mod_tp_dst":
		n, err := parseUint(val, 16)
		if err != nil {
			return nil, errAt(t, name, "0-65535", "%q", val)
		}
		f := dp.FieldTPSrc
		if lname == "mod_tp_dst" {
			f = dp.FieldTPDst
		}
		return setf(f, n, false), nil
	case "dec_ttl":
		return &dp.Action{Kind: dp.ActDecTTL}, nil
	case "set_tunnel", "set_tunnel64":
		n, err := parseUint(val, 64)
		if err != nil || lname == "set_tunnel" && n > 0xffffffff {
			return nil, errAt(t, name, "a tunnel id (VNI)", "%q", val)
		}
		return setf(dp.FieldTunID, n, false), nil
	case "set_queue":
		n, err := parseUint(val, 32)
		if err != nil {
			return nil, errAt(t, name, "a queue number", "%q", val)
		}
		return &dp.Action{Kind: dp.ActSetQueue, ID: uint32(n)}, nil
	case "group":
		n, err := parseUint(val, 32)
		if err != nil {
			return nil, errAt(t, name, "a group number", "%q", val)
		}
		return &dp.Action{Kind: dp.ActGroup, ID: uint32(n)}, nil
	case "resubmit":
		return p.resubmit(t, val)
	case "set_field":
		return p.setField(t, val)
	case "load":
		return p.load(t, val)
	case "move":
		return p.move(t, val)
	case "note":
		return nil, nil
	}
	// A bare port name or number is an output.
	if n, err := p.port(t, t.text); err == nil && !strings.ContainsAny(t.text, ":=(") {
		return out(n), nil
	}
	return nil, errAt(t, "actions", actionsAllowed, "unknown action %q", t.text)
}

// parseArgs parses "(k=v,k=v)".
func parseArgs(s string) map[string]string {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	m := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		m[k] = v
	}
	return m
}

func (p *parser) resubmit(t token, val string) (*dp.Action, error) {
	a := &dp.Action{Kind: dp.ActResubmit, Port: dp.PortInPort, Table: dp.TableAll}
	if strings.HasPrefix(val, "(") {
		inner := strings.TrimSuffix(strings.TrimPrefix(val, "("), ")")
		ps, ts, _ := strings.Cut(inner, ",")
		ps, ts = strings.TrimSpace(ps), strings.TrimSpace(ts)
		if ps != "" {
			n, err := p.port(t, ps)
			if err != nil {
				return nil, err
			}
			a.Port = n
		}
		if ts != "" {
			n, err := parseUint(ts, 8)
			if err != nil || n >= dp.NumTables {
				return nil, errAt(t, "resubmit", fmt.Sprintf("resubmit(PORT,TABLE) with TABLE 0-%d", dp.NumTables-1), "%q", val)
			}
			a.Table = uint8(n)
		}
		if ps == "" && ts == "" {
			return nil, errAt(t, "resubmit", "resubmit:PORT, resubmit(PORT,TABLE) or resubmit(,TABLE)", "%q", val)
		}
		return a, nil
	}
	n, err := p.port(t, val)
	if err != nil {
		return nil, err
	}
	a.Port = n
	return a, nil
}

// subfield parses "FIELD[]", "FIELD[BIT]" or "FIELD[START..END]".
func subfield(s string) (f dp.Field, ofs, nbits int, err error) {
	name, rng, hasRng := strings.Cut(s, "[")
	var ok bool
	if f, ok = nxmNames[name]; !ok {
		return 0, 0, 0, fmt.Errorf("unknown field %q", name)
	}
	width := int(f.Info().Bits)
	if f == dp.FieldVLANVID {
		width = 13
	}
	if !hasRng || rng == "]" {
		return f, 0, width, nil
	}
	rng = strings.TrimSuffix(rng, "]")
	a, b, isRange := strings.Cut(rng, "..")
	lo, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("bad bit %q", a)
	}
	hi := lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, 0, fmt.Errorf("bad bit %q", b)
		}
	}
	if lo < 0 || hi < lo || hi >= width {
		return 0, 0, 0, fmt.Errorf("bits %d..%d outside the field's %d bits", lo, hi, width)
	}
	return f, lo, hi - lo + 1, nil
}

func rangeMask(ofs, nbits int) dp.Value {
	var m dp.Value
	for b := ofs; b < ofs+nbits; b++ {
		if b >= 64 {
			m.Hi |= 1 << (b - 64)
		} else {
			m.Lo |= 1 << b
		}
	}
	return m
}

func shiftValue(v uint64, ofs int) dp.Value {
	if ofs >= 64 {
		return dp.Value{Hi: v << (ofs - 64)}
	}
	r := dp.Value{Lo: v << ofs}
	if ofs > 0 {
		r.Hi = v >> (64 - ofs)
	}
	return r
}

const loadAllowed = "load:VALUE->FIELD[] or load:VALUE->FIELD[START..END], FIELD an NXM/OXM name (NXM_NX_REG0, NXM_OF_ETH_DST, …) or a field name (reg0, eth_dst, …)"

func (p *parser) load(t token, val string) (*dp.Action, error) {
	v, dst, ok := strings.Cut(val, "->")
	if !ok {
		return nil, errAt(t, "load", loadAllowed, "%q", val)
	}
	f, ofs, nbits, err := subfield(dst)
	if err != nil {
		return nil, errAt(t, "load", loadAllowed, "%v", err)
	}
	if !f.Info().Writable {
		return nil, errAt(t, "load", "a writable field", "%s cannot be written", f)
	}
	var n dp.Value
	if nbits > 64 {
		if n, err = parseWideValue(f, v); err != nil {
			return nil, errAt(t, "load", loadAllowed, "%q", v)
		}
	} else {
		x, err := parseUint(v, 64)
		if err != nil || nbits < 64 && x>>nbits != 0 {
			return nil, errAt(t, "load", fmt.Sprintf("a value that fits in %d bits", nbits), "%q", v)
		}
		n = shiftValue(x, ofs)
	}
	return &dp.Action{Kind: dp.ActSetField, Field: f, Value: n, Mask: rangeMask(ofs, nbits)}, nil
}

// parseWideValue parses a 128-bit value (an IPv6 address or a hex number).
func parseWideValue(f dp.Field, s string) (dp.Value, error) {
	if strings.Contains(s, ":") {
		v, _, err := parseIPv6Mask(s)
		return v, err
	}
	s = strings.TrimPrefix(s, "0x")
	if len(s) > 32 {
		return dp.Value{}, fmt.Errorf("too long")
	}
	s = strings.Repeat("0", 32-len(s)) + s
	hi, err1 := strconv.ParseUint(s[:16], 16, 64)
	lo, err2 := strconv.ParseUint(s[16:], 16, 64)
	if err1 != nil || err2 != nil {
		return dp.Value{}, fmt.Errorf("bad value")
	}
	return dp.Value{Hi: hi, Lo: lo}, nil
}

func (p *parser) move(t token, val string) (*dp.Action, error) {
	const allowed = "move:SRC[START..END]->DST[START..END] with ranges of equal width"
	src, dst, ok := strings.Cut(val, "->")
	if !ok {
		return nil, errAt(t, "move", allowed, "%q", val)
	}
	sf, so, sn, err := subfield(src)
	if err != nil {
		return nil, errAt(t, "move", allowed, "%v", err)
	}
	df, do, dn, err := subfield(dst)
	if err != nil {
		return nil, errAt(t, "move", allowed, "%v", err)
	}
	if sn != dn {
		return nil, errAt(t, "move", allowed, "%d bits to %d bits", sn, dn)
	}
	return &dp.Action{Kind: dp.ActMove, Src: sf, SrcOfs: uint8(so), Field: df, DstOfs: uint8(do), NBits: uint8(min(sn, 128))}, nil
}

// setField parses "VALUE[/MASK]->FIELD".
func (p *parser) setField(t token, val string) (*dp.Action, error) {
	const allowed = "set_field:VALUE[/MASK]->FIELD (FIELD a field name: eth_src, ip_dst, vlan_vid, tun_id, reg0, …)"
	v, name, ok := strings.Cut(val, "->")
	if !ok {
		return nil, errAt(t, "set_field", allowed, "%q", val)
	}
	spec, ok := fields[name]
	if !ok {
		if f, ok2 := nxmNames[name]; ok2 {
			spec, ok = fieldSpec{field: f, kind: kindOf(f)}, true
		}
	}
	if !ok {
		return nil, errAt(t, "set_field", allowed, "unknown field %q", name)
	}
	q := &parser{ports: p.ports, f: &Flow{}, seen: map[dp.Field]token{}}
	if name == "nw_tos" {
		n, err := parseUint(v, 8)
		if err != nil || n&3 != 0 {
			return nil, errAt(t, "set_field", "nw_tos 0-255 with the two low bits zero", "%q", v)
		}
		return &dp.Action{Kind: dp.ActSetField, Field: dp.FieldIPDSCP, Value: dp.Value{Lo: n >> 2}, Mask: dp.FieldIPDSCP.FullMask()}, nil
	}
	if err := q.fieldValue(t, name, spec, v); err != nil {
		return nil, err
	}
	fv, fm := q.f.Match.Get(spec.field)
	if spec.field == dp.FieldVLANVID {
		// set_field:10->vlan_vid sets VID 10 (OFPVID_PRESENT is implied).
		x, err := parseUint(strings.Split(v, "/")[0], 16)
		if err != nil || x&0xfff > 4095 {
			return nil, errAt(t, "set_field", "vlan_vid 0-4095", "%q", v)
		}
		fv, fm = dp.Value{Lo: x&0xfff | 0x1000}, dp.Value{Lo: 0x1fff}
	}
	if !spec.field.Info().Writable {
		return nil, errAt(t, "set_field", "a writable field (not in_port, dl_type, nw_proto, tcp_flags, nw_frag)", "%s cannot be written", name)
	}
	return &dp.Action{Kind: dp.ActSetField, Field: spec.field, Value: fv, Mask: fm}, nil
}

func kindOf(f dp.Field) valueKind {
	for _, s := range fields {
		if s.field == f {
			return s.kind
		}
	}
	return vInt
}

// packetInReasons are controller(reason=…)'s names, as ovs-ofctl has them.
var packetInReasons = map[string]uint8{
	"no_match": dp.PacketInNoMatch, "action": dp.PacketInAction, "invalid_ttl": dp.PacketInInvalidTTL,
	"action_set": dp.PacketInActionSet, "group": dp.PacketInGroup, "packet_out": dp.PacketInPacketOut,
}

// parseHexBytes parses ovs-ofctl's userdata: hex bytes separated by dots
// ("01.02.ff"), or one run of hex digits.
func parseHexBytes(s string) ([]byte, error) {
	s = strings.ReplaceAll(s, ".", "")
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("odd number of hex digits")
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		n, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(n)
	}
	return b, nil
}
