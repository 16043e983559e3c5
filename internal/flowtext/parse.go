package flowtext

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	dp "github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/errs"
)

// Ports names ports for parsing and formatting: a bridge's port names and
// numbers.
type Ports interface {
	// PortNumber returns the number of the port called name.
	PortNumber(name string) (uint32, bool)
	// PortName returns the name of port number no ("" if none).
	PortName(no uint32) string
}

// Mode is what a line is parsed for.
type Mode uint8

// Modes.
const (
	// ForAdd parses a rule to add: actions are required.
	ForAdd Mode = iota
	// ForModify parses a modify: a match and actions.
	ForModify
	// ForMatch parses a match only (delete, dump, trace): no actions.
	ForMatch
)

// DefaultPriority is the priority of a rule that does not give one
// (OpenFlow's OFP_DEFAULT_PRIORITY, as in ovs-ofctl).
const DefaultPriority = 32768

// Flow is one parsed line.
type Flow struct {
	Table       uint8 // dp.TableAll when not given in ForMatch mode
	TableSet    bool
	Priority    uint16
	PrioritySet bool
	Cookie      uint64
	// CookieMask is the cookie filter's mask for modify, delete and dump:
	// given as cookie=V/M, or all ones for cookie=V in a match (ForMatch);
	// zero when no cookie filter applies.
	CookieMask  uint64
	IdleTimeout uint16
	HardTimeout uint16
	Flags       uint16
	OutPort     uint32 // dp.PortAny when not given
	OutGroup    uint32
	Match       dp.Match
	Instr       dp.Instructions
	HasActions  bool
}

// Rule returns the flow as an engine rule.
func (f *Flow) Rule() dp.Rule {
	return dp.Rule{Table: f.Table, Priority: f.Priority, Match: f.Match, Cookie: f.Cookie, IdleTimeout: f.IdleTimeout,
		HardTimeout: f.HardTimeout, Flags: f.Flags, Instr: f.Instr}
}

// token is one comma-separated item of a line, with its position.
type token struct {
	text string
	pos  int // 0-based byte offset in the line
}

// parser holds the state of parsing one line.
type parser struct {
	mode  Mode
	line  string
	ports Ports
	f     *Flow
	// nw holds nw_src/nw_dst (and tp_src/tp_dst) until eth_type and
	// ip_proto are known: they mean IPv4 or ARP fields, ports or ICMP.
	deferred []deferredField
	seen     map[dp.Field]token
}

type deferredField struct {
	name string
	val  string
	tok  token
}

func errAt(t token, field, allowed, format string, a ...any) error {
	e := errs.Invalidf(field, allowed, format, a...)
	e.Offset = t.pos + 1
	return e
}

// Parse parses one flow line in ovs-ofctl syntax.
func Parse(line string, ports Ports, mode Mode) (*Flow, error) {
	p := &parser{mode: mode, line: line, ports: ports, f: &Flow{Priority: DefaultPriority, OutPort: dp.PortAny, OutGroup: dp.PortAny, Instr: dp.Instructions{Goto: dp.NoGoto}}, seen: map[dp.Field]token{}}
	if mode == ForMatch {
		p.f.Table = dp.TableAll
	}
	match, actions, apos, hasActions := splitActions(line)
	if hasActions && mode == ForMatch {
		return nil, errAt(token{pos: apos}, "actions", "a match only (no actions=)", "this command takes a match, not actions")
	}
	if !hasActions && mode != ForMatch {
		return nil, errAt(token{pos: len(line)}, "actions", "actions=… at the end of the flow (drop, output:PORT, normal, …)", "the flow has no actions")
	}
	for _, t := range splitTop(match, 0) {
		if err := p.matchItem(t); err != nil {
			return nil, err
		}
	}
	if err := p.resolve(); err != nil {
		return nil, err
	}
	if hasActions {
		p.f.HasActions = true
		if err := p.actions(actions, apos+len("actions=")); err != nil {
			return nil, err
		}
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p.f, nil
}

// splitActions cuts "…,actions=…" into the match and the actions (which run
// to the end of the line, commas and all).
func splitActions(line string) (match, actions string, pos int, ok bool) {
	depth := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		}
		if depth == 0 && strings.HasPrefix(line[i:], "actions=") && (i == 0 || line[i-1] == ',' || line[i-1] == ' ') {
			return strings.TrimRight(line[:i], ", "), line[i+len("actions="):], i, true
		}
		if depth == 0 && strings.HasPrefix(line[i:], "action=") && (i == 0 || line[i-1] == ',' || line[i-1] == ' ') {
			return strings.TrimRight(line[:i], ", "), line[i+len("action="):], i - 1, true
		}
	}
	return line, "", 0, false
}

// splitTop splits s at commas (and spaces) outside parentheses and
// brackets; base is s's offset in the line.
func splitTop(s string, base int) []token {
	var out []token
	depth, start := 0, 0
	flush := func(end int) {
		t := s[start:end]
		lead := len(t) - len(strings.TrimLeft(t, " \t"))
		t = strings.TrimSpace(t)
		if t != "" {
			out = append(out, token{text: t, pos: base + start + lead})
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case ',':
			if depth == 0 {
				flush(i)
				start = i + 1
			}
		case ' ', '\t':
			if depth == 0 {
				flush(i)
				start = i + 1
			}
		}
	}
	flush(len(s))
	return out
}

// kv splits "name=value" (or "name:value").
func kv(t string) (name, val string, ok bool) {
	if i := strings.IndexAny(t, "=:"); i > 0 {
		return t[:i], t[i+1:], true
	}
	return t, "", false
}

func (p *parser) matchItem(t token) error {
	name, val, hasVal := kv(t.text)
	f := p.f
	if sh, ok := shorthands[name]; ok && !hasVal {
		if err := p.setExact(t, "dl_type", dp.FieldEthType, uint64(sh.ethType)); err != nil {
			return err
		}
		if sh.proto != 0 {
			return p.setExact(t, "nw_proto", dp.FieldIPProto, uint64(sh.proto))
		}
		return nil
	}
	flag := func(bit uint16) error {
		if hasVal {
			return errAt(t, name, "no value", "%s takes no value", name)
		}
		f.Flags |= bit
		return nil
	}
	switch name {
	case "table":
		n, err := parseUint(val, 8)
		if err != nil || (n >= dp.NumTables && n != dp.TableAll) {
			return errAt(t, "table", fmt.Sprintf("0-%d", dp.NumTables-1), "%q", val)
		}
		f.Table, f.TableSet = uint8(n), true
		return nil
	case "priority":
		n, err := parseUint(val, 16)
		if err != nil {
			return errAt(t, "priority", "0-65535", "%q", val)
		}
		f.Priority, f.PrioritySet = uint16(n), true
		return nil
	case "cookie":
		v, m, err := parseIntMask(val, 64)
		if err != nil {
			return errAt(t, "cookie", "a 64-bit number, optionally /MASK", "%q", val)
		}
		f.Cookie = v
		if strings.Contains(val, "/") || p.mode == ForMatch {
			f.CookieMask = m
		}
		return nil
	case "idle_timeout", "hard_timeout":
		n, err := parseUint(val, 16)
		if err != nil {
			return errAt(t, name, "0-65535 seconds", "%q", val)
		}
		if name == "idle_timeout" {
			f.IdleTimeout = uint16(n)
		} else {
			f.HardTimeout = uint16(n)
		}
		return nil
	case "send_flow_rem":
		return flag(dp.FlagSendFlowRem)
	case "check_overlap":
		return flag(dp.FlagCheckOverlap)
	case "reset_counts":
		return flag(dp.FlagResetCounts)
	case "no_packet_counts":
		return flag(dp.FlagNoPktCounts)
	case "no_byte_counts":
		return flag(dp.FlagNoBytCounts)
	case "out_port":
		n, err := p.port(t, val)
		if err != nil {
			return err
		}
		f.OutPort = n
		return nil
	case "out_group":
		n, err := parseUint(val, 32)
		if err != nil {
			return errAt(t, "out_group", "a group number", "%q", val)
		}
		f.OutGroup = uint32(n)
		return nil
	case "dl_vlan":
		n, err := parseUint(val, 16)
		if err != nil || n > 4095 && n != 0xffff {
			return errAt(t, "dl_vlan", "0-4095, or 0xffff for untagged frames", "%q", val)
		}
		if n == 0xffff {
			return p.set(t, name, dp.FieldVLANVID, dp.Value{}, dp.Value{Lo: 0x1fff})
		}
		return p.set(t, name, dp.FieldVLANVID, dp.Value{Lo: n | 0x1000}, dp.Value{Lo: 0x1fff})
	case "vlan_tci":
		v, m, err := parseIntMask(val, 16)
		if err != nil {
			return errAt(t, "vlan_tci", "a 16-bit TCI (0x1000 = tagged), optionally /MASK", "%q", val)
		}
		if err := p.set(t, name, dp.FieldVLANVID, dp.Value{Lo: v & 0x1fff}, dp.Value{Lo: m & 0x1fff}); err != nil {
			return err
		}
		if m>>13 != 0 {
			return p.set(t, name, dp.FieldVLANPCP, dp.Value{Lo: v >> 13}, dp.Value{Lo: m >> 13})
		}
		return nil
	case "dl_vlan_pcp", "vlan_pcp":
		n, err := parseUint(val, 8)
		if err != nil || n > 7 {
			return errAt(t, name, "0-7", "%q", val)
		}
		if _, tagged := p.seen[dp.FieldVLANVID]; !tagged {
			if err := p.set(t, name, dp.FieldVLANVID, dp.Value{Lo: 0x1000}, dp.Value{Lo: 0x1000}); err != nil {
				return err
			}
		}
		return p.setExact(t, name, dp.FieldVLANPCP, n)
	case "nw_tos":
		n, err := parseUint(val, 8)
		if err != nil || n&3 != 0 {
			return errAt(t, "nw_tos", "0-255 with the two low (ECN) bits zero; or use ip_dscp", "%q", val)
		}
		return p.setExact(t, name, dp.FieldIPDSCP, n>>2)
	case "nw_src", "nw_dst", "tp_src", "tp_dst":
		if !hasVal {
			break
		}
		p.deferred = append(p.deferred, deferredField{name: name, val: val, tok: t})
		return nil
	}
	spec, ok := fields[name]
	if !ok {
		return errAt(t, name, "a match field (in_port, dl_src, dl_dst, dl_type, dl_vlan, ip, tcp, nw_src, tp_dst, reg0, …), a flow setting (table, priority, cookie, idle_timeout, …) or actions=", "unknown field %q", name)
	}
	if !hasVal {
		return errAt(t, name, "NAME=VALUE", "no value given")
	}
	return p.fieldValue(t, name, spec, val)
}

// fieldValue parses val for a field and adds it to the match.
func (p *parser) fieldValue(t token, name string, spec fieldSpec, val string) error {
	f := spec.field
	fi := f.Info()
	var v, m dp.Value
	switch spec.kind {
	case vPort:
		n, err := p.port(t, val)
		if err != nil {
			return err
		}
		v, m = dp.Value{Lo: uint64(n)}, f.FullMask()
	case vMAC:
		var err error
		if v, m, err = parseMACMask(val); err != nil {
			return errAt(t, name, "a MAC like 02:00:00:00:00:01, optionally /MASK", "%q", val)
		}
	case vIPv4:
		var err error
		if v, m, err = parseIPv4Mask(val); err != nil {
			return errAt(t, name, "an IPv4 address, optionally /PREFIX or /MASK (203.0.113.0/24)", "%q", val)
		}
	case vIPv6:
		var err error
		if v, m, err = parseIPv6Mask(val); err != nil {
			return errAt(t, name, "an IPv6 address, optionally /PREFIX or /MASK (2001:db8::/32)", "%q", val)
		}
	case vFlags:
		var err error
		if v, m, err = parseTCPFlags(val); err != nil {
			return errAt(t, name, "+flag-flag… (fin syn rst psh ack urg ece cwr ns) or a 12-bit number /MASK", "%q", val)
		}
	case vFrag:
		fv, ok := fragValues[val]
		if !ok {
			return errAt(t, name, "no, yes, first, later, not_later", "%q", val)
		}
		v, m = dp.Value{Lo: fv[0]}, dp.Value{Lo: fv[1]}
	default:
		bits := int(fi.Bits)
		if f == dp.FieldVLANVID {
			bits = 13
		}
		a, b, err := parseIntMask(val, bits)
		if err != nil {
			return errAt(t, name, fmt.Sprintf("a %d-bit number (decimal or 0x hex)%s", bits, maskNote(fi)), "%q", val)
		}
		if b != ^uint64(0)>>(64-bits) && !fi.Maskable {
			return errAt(t, name, "an exact value (this field takes no mask)", "%q", val)
		}
		v, m = dp.Value{Lo: a}, dp.Value{Lo: b}
		if f == dp.FieldVLANVID && m.Lo&0x1000 != 0 && v.Lo&0x1000 == 0 {
			// OpenFlow 1.2+: without OFPVID_PRESENT the value means "no
			// VLAN tag" (as Open vSwitch reads it).
			v.Lo, m.Lo = 0, 0x1fff
		}
	}
	return p.set(t, name, f, v, m)
}

// fragValues are nw_frag's words: value and mask of (fragment, later).
var fragValues = map[string][2]uint64{"no": {0, 1}, "yes": {1, 1}, "first": {1, 3}, "later": {3, 3}, "not_later": {0, 2}}

func maskNote(fi dp.FieldInfo) string {
	if fi.Maskable {
		return ", optionally /MASK"
	}
	return ""
}

func (p *parser) setExact(t token, name string, f dp.Field, v uint64) error {
	return p.set(t, name, f, dp.Value{Lo: v}, f.FullMask())
}

// set adds field f = v/m to the match, refusing a second different value.
func (p *parser) set(t token, name string, f dp.Field, v, m dp.Value) error {
	cv, cm := p.f.Match.Get(f)
	if prev, dup := p.seen[f]; dup && !cm.IsZero() {
		if cv.And(m) != v.And(cm) {
			return errAt(t, name, "one value per field", "%s conflicts with %q at %d", name, prev.text, prev.pos+1)
		}
		m = dp.Value{Hi: m.Hi | cm.Hi, Lo: m.Lo | cm.Lo}
		v = dp.Value{Hi: v.Hi | cv.Hi, Lo: v.Lo | cv.Lo}
	}
	p.f.Match.Set(f, v, m)
	p.seen[f] = t
	return nil
}

// resolve gives nw_src/nw_dst and tp_src/tp_dst their meaning now that
// eth_type and ip_proto are known.
func (p *parser) resolve() error {
	et, etSet := p.exact(dp.FieldEthType)
	proto, _ := p.exact(dp.FieldIPProto)
	for _, d := range p.deferred {
		switch d.name {
		case "nw_src", "nw_dst":
			var f dp.Field
			switch {
			case etSet && et == 0x0806 || etSet && et == 0x8035:
				f = map[string]dp.Field{"nw_src": dp.FieldARPSPA, "nw_dst": dp.FieldARPTPA}[d.name]
			case etSet && et == 0x0800:
				f = map[string]dp.Field{"nw_src": dp.FieldIPv4Src, "nw_dst": dp.FieldIPv4Dst}[d.name]
			case etSet && et == 0x86dd:
				f = map[string]dp.Field{"nw_src": dp.FieldIPv6Src, "nw_dst": dp.FieldIPv6Dst}[d.name]
			default:
				return errAt(d.tok, d.name, "ip, ipv6 or arp (or dl_type=0x0800, 0x86dd, 0x0806) in the same flow", "the protocol is not given")
			}
			if err := p.fieldValue(d.tok, d.name, fieldSpec{field: f, kind: map[bool]valueKind{true: vIPv6, false: vIPv4}[et == 0x86dd]}, d.val); err != nil {
				return err
			}
		case "tp_src", "tp_dst":
			f := map[string]dp.Field{"tp_src": dp.FieldTPSrc, "tp_dst": dp.FieldTPDst}[d.name]
			if proto == 1 || proto == 58 {
				f = map[string]dp.Field{"tp_src": dp.FieldICMPType, "tp_dst": dp.FieldICMPCode}[d.name]
			}
			if err := p.fieldValue(d.tok, d.name, fieldSpec{field: f, kind: vInt}, d.val); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) exact(f dp.Field) (uint64, bool) {
	v, m := p.f.Match.Get(f)
	return v.Lo, m == f.FullMask()
}

// validate checks the prerequisites and names the field as typed.
func (p *parser) validate() error {
	r := p.f.Rule()
	if r.Instr.Goto == 0 {
		r.Instr.Goto = dp.NoGoto
	}
	if p.f.Table == dp.TableAll {
		if err := r.Match.Validate(); err != nil {
			return p.locate(err)
		}
		return nil
	}
	if err := r.Validate(); err != nil {
		return p.locate(err)
	}
	return nil
}

// locate adds the position of the field an engine error names.
func (p *parser) locate(err error) error {
	e, ok := errs.As(err)
	if !ok {
		return err
	}
	if f, ok := dp.FieldByName(e.Field); ok {
		if t, ok := p.seen[f]; ok {
			c := *e
			name, _, _ := kv(t.text)
			c.Field = name
			c.Offset = t.pos + 1
			return &c
		}
	}
	return e
}

// port parses a port for a match or an action: a name, a number, or a
// reserved name.
func (p *parser) port(t token, val string) (uint32, error) {
	if n, ok := reservedPorts[strings.ToUpper(val)]; ok && val != "" {
		return n, nil
	}
	if n, err := parseUint(val, 32); err == nil {
		if n == 0 || n > dp.MaxOFPort && n < uint64(dp.PortMax) {
			return 0, errAt(t, "port", fmt.Sprintf("a port name, 1-%d, or LOCAL, CONTROLLER, NORMAL, …", dp.MaxOFPort), "port %d", n)
		}
		return uint32(n), nil
	}
	if p.ports != nil {
		if n, ok := p.ports.PortNumber(val); ok {
			return n, nil
		}
	}
	return 0, errAt(t, "port", "a port of this bridge (by name or number), or IN_PORT, NORMAL, FLOOD, ALL, LOCAL, CONTROLLER", "no port %q", val)
}

// --- values ---------------------------------------------------------

func parseUint(s string, bits int) (uint64, error) {
	s = strings.TrimSpace(s)
	var n uint64
	var err error
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		n, err = strconv.ParseUint(s[2:], 16, bits)
	} else {
		n, err = strconv.ParseUint(s, 10, bits)
	}
	return n, err
}

// parseIntMask parses "V" or "V/M" as bits-wide numbers (no mask: all
// ones).
func parseIntMask(s string, bits int) (v, m uint64, err error) {
	full := ^uint64(0) >> (64 - bits)
	a, b, hasMask := strings.Cut(s, "/")
	if v, err = parseUint(a, bits); err != nil {
		return 0, 0, err
	}
	m = full
	if hasMask {
		if m, err = parseUint(b, bits); err != nil {
			return 0, 0, err
		}
	}
	return v & m, m, nil
}

func parseMAC(s string) (uint64, error) {
	var b [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return 0, fmt.Errorf("not a MAC")
	}
	for i, x := range parts {
		n, err := strconv.ParseUint(x, 16, 8)
		if err != nil || len(x) == 0 || len(x) > 2 {
			return 0, fmt.Errorf("not a MAC")
		}
		b[i] = byte(n)
	}
	return uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5]), nil
}

func parseMACMask(s string) (dp.Value, dp.Value, error) {
	a, b, hasMask := strings.Cut(s, "/")
	v, err := parseMAC(a)
	if err != nil {
		return dp.Value{}, dp.Value{}, err
	}
	m := uint64(1<<48 - 1)
	if hasMask {
		if m, err = parseMAC(b); err != nil {
			return dp.Value{}, dp.Value{}, err
		}
	}
	return dp.Value{Lo: v & m}, dp.Value{Lo: m}, nil
}

func parseIPv4Mask(s string) (dp.Value, dp.Value, error) {
	a, b, hasMask := strings.Cut(s, "/")
	ip, err := netip.ParseAddr(a)
	if err != nil || !ip.Is4() {
		return dp.Value{}, dp.Value{}, fmt.Errorf("not IPv4")
	}
	v := uint64(be4(ip.As4()))
	m := uint64(0xffffffff)
	if hasMask {
		if n, err := strconv.Atoi(b); err == nil && n >= 0 && n <= 32 {
			m = uint64(0xffffffff) << (32 - n) & 0xffffffff
		} else if mi, err := netip.ParseAddr(b); err == nil && mi.Is4() {
			m = uint64(be4(mi.As4()))
		} else {
			return dp.Value{}, dp.Value{}, fmt.Errorf("bad mask")
		}
	}
	return dp.Value{Lo: v & m}, dp.Value{Lo: m}, nil
}

func be4(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func addr6(a [16]byte) dp.Value {
	var v dp.Value
	for i := 0; i < 8; i++ {
		v.Hi = v.Hi<<8 | uint64(a[i])
		v.Lo = v.Lo<<8 | uint64(a[8+i])
	}
	return v
}

func parseIPv6Mask(s string) (dp.Value, dp.Value, error) {
	a, b, hasMask := strings.Cut(s, "/")
	ip, err := netip.ParseAddr(a)
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return dp.Value{}, dp.Value{}, fmt.Errorf("not IPv6")
	}
	v := addr6(ip.As16())
	m := dp.Value{Hi: ^uint64(0), Lo: ^uint64(0)}
	if hasMask {
		if n, err := strconv.Atoi(b); err == nil && n >= 0 && n <= 128 {
			m = prefix6(n)
		} else if mi, err := netip.ParseAddr(b); err == nil && mi.Is6() {
			m = addr6(mi.As16())
		} else {
			return dp.Value{}, dp.Value{}, fmt.Errorf("bad mask")
		}
	}
	return v.And(m), m, nil
}

func prefix6(n int) dp.Value {
	switch {
	case n == 0:
		return dp.Value{}
	case n <= 64:
		return dp.Value{Hi: ^uint64(0) << (64 - n)}
	case n == 128:
		return dp.Value{Hi: ^uint64(0), Lo: ^uint64(0)}
	}
	return dp.Value{Hi: ^uint64(0), Lo: ^uint64(0) << (128 - n)}
}

// parseTCPFlags parses "+syn-ack" or "0x012/0x0ff".
func parseTCPFlags(s string) (dp.Value, dp.Value, error) {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		var v, m uint64
		for s != "" {
			sign := s[0]
			s = s[1:]
			end := strings.IndexAny(s, "+-")
			if end < 0 {
				end = len(s)
			}
			name := s[:end]
			s = s[end:]
			bit := -1
			for i, n := range tcpFlagNames {
				if n == name {
					bit = i
				}
			}
			if bit < 0 || (sign != '+' && sign != '-') {
				return dp.Value{}, dp.Value{}, fmt.Errorf("bad flag %q", name)
			}
			m |= 1 << bit
			if sign == '+' {
				v |= 1 << bit
			}
		}
		return dp.Value{Lo: v}, dp.Value{Lo: m}, nil
	}
	v, m, err := parseIntMask(s, 12)
	return dp.Value{Lo: v}, dp.Value{Lo: m}, err
}
