package ofp

// MultipartBody is the body of a multipart (1.0: stats) request or reply;
// the concrete types are this file's *Request, *Reply and *Stats structs.
type MultipartBody interface {
	MultipartType() MultipartType
}

// MultipartRequest is OFPT_MULTIPART_REQUEST (1.0: OFPT_STATS_REQUEST,
// including Nicira's NXST_FLOW and NXST_AGGREGATE).
type MultipartRequest struct {
	Flags uint16 // MultipartRequestMore
	Body  MultipartBody
}

// MultipartReply is OFPT_MULTIPART_REPLY (1.0: OFPT_STATS_REPLY).
type MultipartReply struct {
	Flags uint16 // MultipartReplyMore
	Body  MultipartBody
}

func (*MultipartRequest) Type() Type { return TypeMultipartRequest }
func (*MultipartReply) Type() Type   { return TypeMultipartReply }

// Request bodies.
type (
	// DescRequest asks for OFPMP_DESC.
	DescRequest struct{}
	// TableStatsRequest asks for OFPMP_TABLE.
	TableStatsRequest struct{}
	// PortDescRequest asks for OFPMP_PORT_DESC.
	PortDescRequest struct{}
	// GroupDescRequest asks for OFPMP_GROUP_DESC.
	GroupDescRequest struct{}
	// GroupFeaturesRequest asks for OFPMP_GROUP_FEATURES.
	GroupFeaturesRequest struct{}
	// MeterFeaturesRequest asks for OFPMP_METER_FEATURES.
	MeterFeaturesRequest struct{}

	// FlowStatsRequest asks for OFPMP_FLOW (NXM: Nicira's NXST_FLOW,
	// whose cookie filter travels in the match as NXM_NX_COOKIE).
	FlowStatsRequest struct {
		TableID    uint8
		OutPort    uint32
		OutGroup   uint32
		Cookie     uint64
		CookieMask uint64
		Match      Match
		NXM        bool
	}
	// AggregateStatsRequest asks for OFPMP_AGGREGATE (NXST_AGGREGATE).
	AggregateStatsRequest struct{ FlowStatsRequest }
	// PortStatsRequest asks for OFPMP_PORT_STATS of one port or PortAny.
	PortStatsRequest struct{ PortNo uint32 }
	// QueueStatsRequest asks for OFPMP_QUEUE (PortAny, QueueAll
	// wildcards).
	QueueStatsRequest struct{ PortNo, QueueID uint32 }
	// GroupStatsRequest asks for OFPMP_GROUP of one group or GroupAll.
	GroupStatsRequest struct{ GroupID uint32 }
	// MeterStatsRequest asks for OFPMP_METER of one meter or MeterAll.
	MeterStatsRequest struct{ MeterID uint32 }
	// MeterConfigRequest asks for OFPMP_METER_CONFIG.
	MeterConfigRequest struct{ MeterID uint32 }
	// TableFeaturesRequest asks for OFPMP_TABLE_FEATURES; with tables
	// it asks to set them.
	TableFeaturesRequest struct{ Tables []TableFeatures }
	// ExperimenterMultipart is an experimenter multipart body this codec
	// does not decode.
	ExperimenterMultipart struct {
		Experimenter uint32
		ExpType      uint32
		Data         []byte
	}
)

// Reply bodies.
type (
	// DescStats is OFPMP_DESC's reply.
	DescStats struct {
		MfrDesc, HWDesc, SWDesc, SerialNum, DPDesc string
	}
	// FlowStatsReply is OFPMP_FLOW's reply (NXST_FLOW with NXM).
	FlowStatsReply struct {
		Flows []FlowStats
		NXM   bool
	}
	// AggregateStats is OFPMP_AGGREGATE's reply.
	AggregateStats struct {
		PacketCount, ByteCount uint64
		FlowCount              uint32
		NXM                    bool
	}
	// TableStatsReply is OFPMP_TABLE's reply.
	TableStatsReply struct{ Tables []TableStats }
	// PortStatsReply is OFPMP_PORT_STATS's reply.
	PortStatsReply struct{ Ports []PortStats }
	// PortDescReply is OFPMP_PORT_DESC's reply.
	PortDescReply struct{ Ports []Port }
	// QueueStatsReply is OFPMP_QUEUE's reply.
	QueueStatsReply struct{ Queues []QueueStats }
	// GroupStatsReply is OFPMP_GROUP's reply.
	GroupStatsReply struct{ Groups []GroupStats }
	// GroupDescReply is OFPMP_GROUP_DESC's reply.
	GroupDescReply struct{ Groups []GroupDesc }
	// GroupFeatures is OFPMP_GROUP_FEATURES's reply.
	GroupFeatures struct {
		Types, Capabilities uint32
		MaxGroups           [4]uint32
		Actions             [4]uint32
	}
	// MeterStatsReply is OFPMP_METER's reply.
	MeterStatsReply struct{ Meters []MeterStats }
	// MeterConfigReply is OFPMP_METER_CONFIG's reply.
	MeterConfigReply struct{ Meters []MeterConfig }
	// MeterFeatures is OFPMP_METER_FEATURES's reply.
	MeterFeatures struct {
		MaxMeter, BandTypes, Capabilities uint32
		MaxBands, MaxColor                uint8
	}
	// TableFeaturesReply is OFPMP_TABLE_FEATURES's reply.
	TableFeaturesReply struct{ Tables []TableFeatures }
)

// FlowStats is one flow of a flow stats reply. IdleAge and HardAge exist
// only in NXST_FLOW (seconds since the last packet and since the last
// modification, plus one; 0 = unknown).
type FlowStats struct {
	TableID      uint8
	DurationSec  uint32
	DurationNsec uint32
	Priority     uint16
	IdleTimeout  uint16
	HardTimeout  uint16
	Flags        uint16
	Cookie       uint64
	PacketCount  uint64
	ByteCount    uint64
	Match        Match
	Instructions []Instruction
	IdleAge      uint16
	HardAge      uint16
}

// TableStats is one table of a table stats reply; Name, Wildcards and
// MaxEntries exist only in OpenFlow 1.0.
type TableStats struct {
	TableID      uint8
	ActiveCount  uint32
	LookupCount  uint64
	MatchedCount uint64
	Name         string
	Wildcards    uint32
	MaxEntries   uint32
}

// PortStats is one port of a port stats reply.
type PortStats struct {
	PortNo                                      uint32
	RxPackets, TxPackets, RxBytes, TxBytes      uint64
	RxDropped, TxDropped, RxErrors, TxErrors    uint64
	RxFrameErr, RxOverErr, RxCRCErr, Collisions uint64
	DurationSec, DurationNsec                   uint32
}

// QueueStats is one queue of a queue stats reply.
type QueueStats struct {
	PortNo, QueueID              uint32
	TxBytes, TxPackets, TxErrors uint64
	DurationSec, DurationNsec    uint32
}

// BucketCounter is a group bucket's counters.
type BucketCounter struct{ PacketCount, ByteCount uint64 }

// GroupStats is one group of a group stats reply.
type GroupStats struct {
	GroupID, RefCount         uint32
	PacketCount, ByteCount    uint64
	DurationSec, DurationNsec uint32
	Buckets                   []BucketCounter
}

// GroupDesc is one group of a group description reply.
type GroupDesc struct {
	GroupType uint8
	GroupID   uint32
	Buckets   []Bucket
}

// MeterBandStats is a meter band's counters.
type MeterBandStats struct{ PacketBandCount, ByteBandCount uint64 }

// MeterStats is one meter of a meter stats reply.
type MeterStats struct {
	MeterID                    uint32
	FlowCount                  uint32
	PacketInCount, ByteInCount uint64
	DurationSec, DurationNsec  uint32
	Bands                      []MeterBandStats
}

// MeterConfig is one meter of a meter config reply.
type MeterConfig struct {
	Flags   uint16
	MeterID uint32
	Bands   []MeterBand
}

// Table-feature property types.
const (
	TFPInstructions      uint16 = 0
	TFPInstructionsMiss  uint16 = 1
	TFPNextTables        uint16 = 2
	TFPNextTablesMiss    uint16 = 3
	TFPWriteActions      uint16 = 4
	TFPWriteActionsMiss  uint16 = 5
	TFPApplyActions      uint16 = 6
	TFPApplyActionsMiss  uint16 = 7
	TFPMatch             uint16 = 8
	TFPWildcards         uint16 = 10
	TFPWriteSetfield     uint16 = 12
	TFPWriteSetfieldMiss uint16 = 13
	TFPApplySetfield     uint16 = 14
	TFPApplySetfieldMiss uint16 = 15
	TFPExperimenter      uint16 = 0xfffe
	TFPExperimenterMiss  uint16 = 0xffff
)

// TableFeatureProp is one table-feature property: its type and its payload
// (without the 4-byte header and the padding).
type TableFeatureProp struct {
	PropType uint16
	Data     []byte
}

// TableFeatures is one table's ofp_table_features.
type TableFeatures struct {
	TableID       uint8
	Command       uint8 // OpenFlow 1.5; zero in 1.3
	Name          string
	MetadataMatch uint64
	MetadataWrite uint64
	Config        uint32
	MaxEntries    uint32
	Properties    []TableFeatureProp
}

// PropInstructions builds an instructions(-miss) property.
func PropInstructions(t uint16, types ...uint16) TableFeatureProp {
	var d []byte
	for _, x := range types {
		d = appendU16(appendU16(d, x), 4)
	}
	return TableFeatureProp{PropType: t, Data: d}
}

// PropNextTables builds a next-tables(-miss) property.
func PropNextTables(t uint16, tables ...uint8) TableFeatureProp {
	return TableFeatureProp{PropType: t, Data: append([]byte(nil), tables...)}
}

// PropActions builds an action-list property of OpenFlow 1.3 action types.
func PropActions(t uint16, types ...uint16) TableFeatureProp {
	var d []byte
	for _, x := range types {
		d = appendU16(appendU16(d, x), 4)
	}
	return TableFeatureProp{PropType: t, Data: d}
}

// PropFields builds a match, wildcards or set-field property. In a
// wildcards or match property masked marks the fields that may be masked.
func PropFields(t uint16, masked func(FieldID) bool, fields ...FieldID) TableFeatureProp {
	var d []byte
	for _, f := range fields {
		o := NewOXM(f, make([]byte, f.Len()), nil)
		if masked != nil && masked(f) {
			o.Mask = o.Value
		}
		d = appendU32(d, o.Header())
		if o.Class == ClassExperimenter {
			d = appendU32(d, o.Experimenter)
		}
	}
	return TableFeatureProp{PropType: t, Data: d}
}

func (DescRequest) MultipartType() MultipartType           { return MultipartDesc }
func (TableStatsRequest) MultipartType() MultipartType     { return MultipartTable }
func (PortDescRequest) MultipartType() MultipartType       { return MultipartPortDesc }
func (GroupDescRequest) MultipartType() MultipartType      { return MultipartGroupDesc }
func (GroupFeaturesRequest) MultipartType() MultipartType  { return MultipartGroupFeatures }
func (MeterFeaturesRequest) MultipartType() MultipartType  { return MultipartMeterFeatures }
func (FlowStatsRequest) MultipartType() MultipartType      { return MultipartFlow }
func (AggregateStatsRequest) MultipartType() MultipartType { return MultipartAggregate }
func (PortStatsRequest) MultipartType() MultipartType      { return MultipartPortStats }
func (QueueStatsRequest) MultipartType() MultipartType     { return MultipartQueue }
func (GroupStatsRequest) MultipartType() MultipartType     { return MultipartGroup }
func (MeterStatsRequest) MultipartType() MultipartType     { return MultipartMeter }
func (MeterConfigRequest) MultipartType() MultipartType    { return MultipartMeterConfig }
func (TableFeaturesRequest) MultipartType() MultipartType  { return MultipartTableFeatures }
func (ExperimenterMultipart) MultipartType() MultipartType { return MultipartExperimenter }
func (DescStats) MultipartType() MultipartType             { return MultipartDesc }
func (FlowStatsReply) MultipartType() MultipartType        { return MultipartFlow }
func (AggregateStats) MultipartType() MultipartType        { return MultipartAggregate }
func (TableStatsReply) MultipartType() MultipartType       { return MultipartTable }
func (PortStatsReply) MultipartType() MultipartType        { return MultipartPortStats }
func (PortDescReply) MultipartType() MultipartType         { return MultipartPortDesc }
func (QueueStatsReply) MultipartType() MultipartType       { return MultipartQueue }
func (GroupStatsReply) MultipartType() MultipartType       { return MultipartGroup }
func (GroupDescReply) MultipartType() MultipartType        { return MultipartGroupDesc }
func (GroupFeatures) MultipartType() MultipartType         { return MultipartGroupFeatures }
func (MeterStatsReply) MultipartType() MultipartType       { return MultipartMeter }
func (MeterConfigReply) MultipartType() MultipartType      { return MultipartMeterConfig }
func (MeterFeatures) MultipartType() MultipartType         { return MultipartMeterFeatures }
func (TableFeaturesReply) MultipartType() MultipartType    { return MultipartTableFeatures }

// multipart header: type, flags and (1.1+) 4 bytes of padding.
func mpHeaderLen(v uint8) int {
	if v == Version10 {
		return 4
	}
	return 8
}

// Nicira stats header after the multipart header: vendor, subtype, pad.
const nxStatsHeaderLen = 12

func isNXStats(b MultipartBody) (uint32, bool) {
	switch x := b.(type) {
	case *FlowStatsRequest:
		return nxstFlow, x.NXM
	case *AggregateStatsRequest:
		return nxstAggregate, x.NXM
	case *FlowStatsReply:
		return nxstFlow, x.NXM
	case *AggregateStats:
		return nxstAggregate, x.NXM
	}
	return 0, false
}

func (m *MultipartRequest) marshal(b []byte, v uint8, o *Options) ([]byte, error) {
	if err := setType(b, TypeMultipartRequest, v); err != nil {
		return nil, err
	}
	b = appendMPHeader(b, v, m.Body, m.Flags)
	return appendRequestBody(b, v, m.Body)
}

func appendMPHeader(b []byte, v uint8, body MultipartBody, flags uint16) []byte {
	t := body.MultipartType()
	sub, nx := isNXStats(body)
	if nx {
		t = MultipartExperimenter
	}
	b = appendU16(appendU16(b, uint16(t)), flags)
	if v != Version10 {
		b = appendZeros(b, 4)
	}
	if nx {
		b = appendZeros(appendU32(appendU32(b, ExperimenterNicira), sub), 4)
	}
	if e, ok := body.(*ExperimenterMultipart); ok {
		b = appendU32(appendU32(b, e.Experimenter), e.ExpType)
	}
	return b
}

func appendRequestBody(b []byte, v uint8, body MultipartBody) ([]byte, error) {
	switch x := body.(type) {
	case *DescRequest, *TableStatsRequest, *PortDescRequest, *GroupDescRequest, *GroupFeaturesRequest, *MeterFeaturesRequest:
		if v == Version10 {
			switch body.(type) {
			case *GroupDescRequest, *GroupFeaturesRequest, *MeterFeaturesRequest:
				return nil, Errorf(ErrBadRequest, BadRequestBadMultipart, "%s does not exist in OpenFlow 1.0", body.MultipartType())
			}
		}
		return b, nil
	case *FlowStatsRequest:
		return appendFlowStatsRequest(b, v, x)
	case *AggregateStatsRequest:
		return appendFlowStatsRequest(b, v, &x.FlowStatsRequest)
	case *PortStatsRequest:
		if v == Version10 {
			p, _ := PortTo10(x.PortNo)
			return appendZeros(appendU16(b, p), 6), nil
		}
		return appendZeros(appendU32(b, x.PortNo), 4), nil
	case *QueueStatsRequest:
		if v == Version10 {
			p, _ := PortTo10(x.PortNo)
			return appendU32(appendZeros(appendU16(b, p), 2), x.QueueID), nil
		}
		return appendU32(appendU32(b, x.PortNo), x.QueueID), nil
	case *GroupStatsRequest:
		return appendZeros(appendU32(b, x.GroupID), 4), nil
	case *MeterStatsRequest:
		return appendZeros(appendU32(b, x.MeterID), 4), nil
	case *MeterConfigRequest:
		return appendZeros(appendU32(b, x.MeterID), 4), nil
	case *TableFeaturesRequest:
		for i := range x.Tables {
			b = appendTableFeatures(b, &x.Tables[i])
		}
		return b, nil
	case *ExperimenterMultipart:
		return append(b, x.Data...), nil
	}
	return nil, Errorf(ErrBadRequest, BadRequestBadMultipart, "%T is not a multipart request body", body)
}

func appendFlowStatsRequest(b []byte, v uint8, r *FlowStatsRequest) ([]byte, error) {
	outPort, _ := PortTo10(r.OutPort)
	switch {
	case v == Version10 && r.NXM:
		b = appendU16(b, outPort)
		lenAt := len(b)
		b = appendZeros(append(appendU16(b, 0), r.TableID), 3)
		match := withNXCookie(r.Match, r.Cookie, r.CookieMask)
		var n int
		b, n = appendNXM(b, &match)
		be.PutUint16(b[lenAt:], uint16(n))
		return b, nil
	case v == Version10:
		b, _ = appendMatch10(b, &r.Match)
		return appendU16(append(b, r.TableID, 0), outPort), nil
	}
	b = appendZeros(append(b, r.TableID), 3)
	b = appendZeros(appendU32(appendU32(b, r.OutPort), r.OutGroup), 4)
	b = appendU64(appendU64(b, r.Cookie), r.CookieMask)
	return appendMatch13(b, &r.Match), nil
}

func parseMultipartRequest(body []byte, v uint8) (*MultipartRequest, error) {
	hl := mpHeaderLen(v)
	if err := bodyMin(body, "MULTIPART_REQUEST", hl); err != nil {
		return nil, err
	}
	t, flags, b := MultipartType(be.Uint16(body)), be.Uint16(body[2:]), body[hl:]
	m := &MultipartRequest{Flags: flags}
	exact := func(n int) error {
		if len(b) != n {
			return Errorf(ErrBadRequest, BadRequestBadLen, "%s request body of %d bytes, must be %d", t, len(b), n)
		}
		return nil
	}
	var err error
	switch t {
	case MultipartDesc, MultipartTable, MultipartPortDesc:
		if err = exact(0); err == nil {
			switch t {
			case MultipartDesc:
				m.Body = &DescRequest{}
			case MultipartTable:
				m.Body = &TableStatsRequest{}
			default:
				m.Body = &PortDescRequest{}
			}
		}
	case MultipartFlow, MultipartAggregate:
		var r *FlowStatsRequest
		if r, err = parseFlowStatsRequest(b, v); err == nil {
			if t == MultipartFlow {
				m.Body = r
			} else {
				m.Body = &AggregateStatsRequest{*r}
			}
		}
	case MultipartPortStats:
		if err = exact(8); err == nil {
			if v == Version10 {
				m.Body = &PortStatsRequest{PortNo: PortFrom10(be.Uint16(b))}
			} else {
				m.Body = &PortStatsRequest{PortNo: be.Uint32(b)}
			}
		}
	case MultipartQueue:
		if err = exact(8); err == nil {
			if v == Version10 {
				m.Body = &QueueStatsRequest{PortNo: PortFrom10(be.Uint16(b)), QueueID: be.Uint32(b[4:])}
			} else {
				m.Body = &QueueStatsRequest{PortNo: be.Uint32(b), QueueID: be.Uint32(b[4:])}
			}
		}
	case MultipartExperimenter:
		return parseExperimenterMultipartRequest(m, b, v)
	default:
		if v == Version10 {
			return nil, Errorf(ErrBadRequest, BadRequestBadMultipart, "stats type %d is not an OpenFlow 1.0 stats type", t)
		}
		switch t {
		case MultipartGroupDesc, MultipartGroupFeatures, MultipartMeterFeatures:
			if err = exact(0); err == nil {
				switch t {
				case MultipartGroupDesc:
					m.Body = &GroupDescRequest{}
				case MultipartGroupFeatures:
					m.Body = &GroupFeaturesRequest{}
				default:
					m.Body = &MeterFeaturesRequest{}
				}
			}
		case MultipartGroup:
			if err = exact(8); err == nil {
				m.Body = &GroupStatsRequest{GroupID: be.Uint32(b)}
			}
		case MultipartMeter, MultipartMeterConfig:
			if err = exact(8); err == nil {
				if t == MultipartMeter {
					m.Body = &MeterStatsRequest{MeterID: be.Uint32(b)}
				} else {
					m.Body = &MeterConfigRequest{MeterID: be.Uint32(b)}
				}
			}
		case MultipartTableFeatures:
			var tf []TableFeatures
			if tf, err = parseTableFeaturesList(b); err == nil {
				m.Body = &TableFeaturesRequest{Tables: tf}
			}
		default:
			err = Errorf(ErrBadRequest, BadRequestBadMultipart, "multipart type %d (0 desc … 13 port_desc, 0xffff experimenter)", t)
		}
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

func parseExperimenterMultipartRequest(m *MultipartRequest, b []byte, v uint8) (*MultipartRequest, error) {
	if len(b) < 8 {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "experimenter multipart of %d bytes", len(b))
	}
	exp, sub := be.Uint32(b), be.Uint32(b[4:])
	if exp == ExperimenterNicira && v == Version10 && (sub == nxstFlow || sub == nxstAggregate) {
		if len(b) < nxStatsHeaderLen {
			return nil, Errorf(ErrBadRequest, BadRequestBadLen, "Nicira stats request of %d bytes", len(b))
		}
		r, err := parseNXFlowStatsRequest(b[nxStatsHeaderLen:])
		if err != nil {
			return nil, err
		}
		if sub == nxstFlow {
			m.Body = r
		} else {
			m.Body = &AggregateStatsRequest{*r}
		}
		return m, nil
	}
	m.Body = &ExperimenterMultipart{Experimenter: exp, ExpType: sub, Data: b[8:]}
	return m, nil
}

func parseFlowStatsRequest(b []byte, v uint8) (*FlowStatsRequest, error) {
	if v == Version10 {
		if len(b) != 44 {
			return nil, Errorf(ErrBadRequest, BadRequestBadLen, "flow stats request of %d bytes, must be 44", len(b))
		}
		match, err := parseMatch10(b)
		if err != nil {
			return nil, err
		}
		return &FlowStatsRequest{Match: match, TableID: b[40], OutPort: PortFrom10(be.Uint16(b[42:])), OutGroup: GroupAny}, nil
	}
	if len(b) < 32 {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "flow stats request of %d bytes, needs at least 32", len(b))
	}
	r := &FlowStatsRequest{TableID: b[0], OutPort: be.Uint32(b[4:]), OutGroup: be.Uint32(b[8:]), Cookie: be.Uint64(b[16:]), CookieMask: be.Uint64(b[24:])}
	match, n, err := parseMatch13(b[32:])
	if err != nil {
		return nil, err
	}
	if 32+n != len(b) {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "flow stats request has %d bytes after its match", len(b)-32-n)
	}
	r.Match = match
	return r, nil
}

func parseNXFlowStatsRequest(b []byte) (*FlowStatsRequest, error) {
	if len(b) < 8 {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "NXST_FLOW request of %d bytes, needs 8", len(b))
	}
	r := &FlowStatsRequest{NXM: true, OutPort: PortFrom10(be.Uint16(b)), TableID: b[4], OutGroup: GroupAny}
	match, n, err := parseNXM(b[8:], int(be.Uint16(b[2:])))
	if err != nil {
		return nil, err
	}
	if 8+n != len(b) {
		return nil, Errorf(ErrBadRequest, BadRequestBadLen, "NXST_FLOW request has %d bytes after its match", len(b)-8-n)
	}
	if r.Match, r.Cookie, r.CookieMask, err = takeNXCookie(match); err != nil {
		return nil, err
	}
	return r, nil
}

// Reply encoding. Lists are encoded item by item so that a reply can be
// split across messages (MarshalMultipartReply).

func (m *MultipartReply) marshal(b []byte, v uint8, o *Options) ([]byte, error) {
	if err := setType(b, TypeMultipartReply, v); err != nil {
		return nil, err
	}
	b = appendMPHeader(b, v, m.Body, m.Flags)
	items, err := replyItems(nil, v, m.Body)
	if err != nil {
		return nil, err
	}
	return append(b, items.buf...), nil
}

// itemBuf is an encoded list with the end offset of every item.
type itemBuf struct {
	buf  []byte
	ends []int
}

func (ib *itemBuf) mark() { ib.ends = append(ib.ends, len(ib.buf)) }

func replyItems(ib *itemBuf, v uint8, body MultipartBody) (*itemBuf, error) {
	if ib == nil {
		ib = &itemBuf{}
	}
	b := ib.buf
	switch x := body.(type) {
	case *DescStats:
		for _, s := range []string{x.MfrDesc, x.HWDesc, x.SWDesc} {
			b = appendCString(b, s, 256)
		}
		b = appendCString(b, x.SerialNum, 32)
		b = appendCString(b, x.DPDesc, 256)
		ib.buf = b
		ib.mark()
	case *FlowStatsReply:
		for i := range x.Flows {
			var err error
			if ib.buf, err = appendFlowStats(ib.buf, v, x.NXM, &x.Flows[i]); err != nil {
				return nil, err
			}
			ib.mark()
		}
	case *AggregateStats:
		b = appendU64(appendU64(b, x.PacketCount), x.ByteCount)
		ib.buf = appendZeros(appendU32(b, x.FlowCount), 4)
		ib.mark()
	case *TableStatsReply:
		for _, t := range x.Tables {
			if v == Version10 {
				b = appendZeros(append(b, t.TableID), 3)
				b = appendCString(b, t.Name, 32)
				b = appendU32(appendU32(appendU32(b, t.Wildcards), t.MaxEntries), t.ActiveCount)
			} else {
				b = appendU32(appendZeros(append(b, t.TableID), 3), t.ActiveCount)
			}
			b = appendU64(appendU64(b, t.LookupCount), t.MatchedCount)
			ib.buf = b
			ib.mark()
		}
	case *PortStatsReply:
		for _, p := range x.Ports {
			if v == Version10 {
				n, _ := PortTo10(p.PortNo)
				b = appendZeros(appendU16(b, n), 6)
			} else {
				b = appendZeros(appendU32(b, p.PortNo), 4)
			}
			for _, c := range []uint64{p.RxPackets, p.TxPackets, p.RxBytes, p.TxBytes, p.RxDropped, p.TxDropped, p.RxErrors, p.TxErrors, p.RxFrameErr, p.RxOverErr, p.RxCRCErr, p.Collisions} {
				b = appendU64(b, c)
			}
			if v != Version10 {
				b = appendU32(appendU32(b, p.DurationSec), p.DurationNsec)
			}
			ib.buf = b
			ib.mark()
		}
	case *PortDescReply:
		for i := range x.Ports {
			b = appendPort(b, v, &x.Ports[i])
			ib.buf = b
			ib.mark()
		}
	case *QueueStatsReply:
		for _, q := range x.Queues {
			if v == Version10 {
				n, _ := PortTo10(q.PortNo)
				b = appendU32(appendZeros(appendU16(b, n), 2), q.QueueID)
			} else {
				b = appendU32(appendU32(b, q.PortNo), q.QueueID)
			}
			b = appendU64(appendU64(appendU64(b, q.TxBytes), q.TxPackets), q.TxErrors)
			if v != Version10 {
				b = appendU32(appendU32(b, q.DurationSec), q.DurationNsec)
			}
			ib.buf = b
			ib.mark()
		}
	case *GroupStatsReply:
		for _, g := range x.Groups {
			off := len(b)
			b = appendZeros(appendU16(b, 0), 2)
			b = appendZeros(appendU32(appendU32(b, g.GroupID), g.RefCount), 4)
			b = appendU64(appendU64(b, g.PacketCount), g.ByteCount)
			b = appendU32(appendU32(b, g.DurationSec), g.DurationNsec)
			for _, c := range g.Buckets {
				b = appendU64(appendU64(b, c.PacketCount), c.ByteCount)
			}
			putLen16(b, off, off)
			ib.buf = b
			ib.mark()
		}
	case *GroupDescReply:
		for _, g := range x.Groups {
			off := len(b)
			b = appendU32(append(appendU16(b, 0), g.GroupType, 0), g.GroupID)
			var err error
			if b, err = appendBuckets(b, g.Buckets); err != nil {
				return nil, err
			}
			putLen16(b, off, off)
			ib.buf = b
			ib.mark()
		}
	case *GroupFeatures:
		b = appendU32(appendU32(b, x.Types), x.Capabilities)
		for _, n := range x.MaxGroups {
			b = appendU32(b, n)
		}
		for _, n := range x.Actions {
			b = appendU32(b, n)
		}
		ib.buf = b
		ib.mark()
	case *MeterStatsReply:
		for _, s := range x.Meters {
			off := len(b)
			b = appendZeros(appendU16(appendU32(b, s.MeterID), 0), 6)
			b = appendU64(appendU64(appendU32(b, s.FlowCount), s.PacketInCount), s.ByteInCount)
			b = appendU32(appendU32(b, s.DurationSec), s.DurationNsec)
			for _, c := range s.Bands {
				b = appendU64(appendU64(b, c.PacketBandCount), c.ByteBandCount)
			}
			putLen16(b, off+4, off)
			ib.buf = b
			ib.mark()
		}
	case *MeterConfigReply:
		for _, c := range x.Meters {
			off := len(b)
			b = appendU32(appendU16(appendU16(b, 0), c.Flags), c.MeterID)
			b = appendBands(b, c.Bands)
			putLen16(b, off, off)
			ib.buf = b
			ib.mark()
		}
	case *MeterFeatures:
		b = appendU32(appendU32(appendU32(b, x.MaxMeter), x.BandTypes), x.Capabilities)
		ib.buf = appendZeros(append(b, x.MaxBands, x.MaxColor), 2)
		ib.mark()
	case *TableFeaturesReply:
		for i := range x.Tables {
			b = appendTableFeatures(b, &x.Tables[i])
			ib.buf = b
			ib.mark()
		}
	case *ExperimenterMultipart:
		ib.buf = append(b, x.Data...)
		ib.mark()
	default:
		return nil, Errorf(ErrBadRequest, BadRequestBadMultipart, "%T is not a multipart reply body", body)
	}
	if v == Version10 {
		switch body.(type) {
		case *GroupStatsReply, *GroupDescReply, *GroupFeatures, *MeterStatsReply, *MeterConfigReply, *MeterFeatures, *TableFeaturesReply:
			return nil, Errorf(ErrBadRequest, BadRequestBadMultipart, "%s does not exist in OpenFlow 1.0", body.MultipartType())
		}
	}
	return ib, nil
}

func appendFlowStats(b []byte, v uint8, nxm bool, f *FlowStats) ([]byte, error) {
	off := len(b)
	switch {
	case v == Version10 && nxm:
		b = appendZeros(appendU16(b, 0), 0)
		b = append(b, f.TableID, 0)
		b = appendU32(appendU32(b, f.DurationSec), f.DurationNsec)
		b = appendU16(appendU16(appendU16(b, f.Priority), f.IdleTimeout), f.HardTimeout)
		lenAt := len(b)
		b = appendU16(appendU16(appendU16(b, 0), f.IdleAge), f.HardAge)
		b = appendU64(appendU64(appendU64(b, f.Cookie), f.PacketCount), f.ByteCount)
		nxm := f.Match.NXM()
		var n int
		b, n = appendNXM(b, &nxm)
		be.PutUint16(b[lenAt:], uint16(n))
		acts, _ := actions10(f.Instructions)
		b = appendActions10Lossy(b, acts)
	case v == Version10:
		b = append(appendU16(b, 0), f.TableID, 0)
		b, _ = appendMatch10(b, &f.Match)
		b = appendU32(appendU32(b, f.DurationSec), f.DurationNsec)
		b = appendZeros(appendU16(appendU16(appendU16(b, f.Priority), f.IdleTimeout), f.HardTimeout), 6)
		b = appendU64(appendU64(appendU64(b, f.Cookie), f.PacketCount), f.ByteCount)
		acts, _ := actions10(f.Instructions)
		b = appendActions10Lossy(b, acts)
	default:
		b = append(appendU16(b, 0), f.TableID, 0)
		b = appendU32(appendU32(b, f.DurationSec), f.DurationNsec)
		b = appendU16(appendU16(appendU16(appendU16(b, f.Priority), f.IdleTimeout), f.HardTimeout), f.Flags)
		b = appendZeros(b, 4)
		b = appendU64(appendU64(appendU64(b, f.Cookie), f.PacketCount), f.ByteCount)
		b = appendMatch13(b, &f.Match)
		var err error
		if b, err = AppendInstructions(b, f.Instructions); err != nil {
			return nil, err
		}
	}
	putLen16(b, off, off)
	return b, nil
}

func appendTableFeatures(b []byte, t *TableFeatures) []byte {
	off := len(b)
	b = appendZeros(append(appendU16(b, 0), t.TableID, t.Command), 4)
	b = appendCString(b, t.Name, 32)
	b = appendU64(appendU64(b, t.MetadataMatch), t.MetadataWrite)
	b = appendU32(appendU32(b, t.Config), t.MaxEntries)
	for _, p := range t.Properties {
		po := len(b)
		b = append(appendU16(appendU16(b, p.PropType), uint16(4+len(p.Data))), p.Data...)
		b = padTo8(b, po)
	}
	putLen16(b, off, off)
	return b
}

// MaxTableFeatures bounds how many tables one request may describe.
const MaxTableFeatures = 256

func parseTableFeaturesList(b []byte) ([]TableFeatures, error) {
	var out []TableFeatures
	for len(b) > 0 {
		if len(b) < 64 {
			return nil, Errorf(ErrTableFeaturesFailed, TableFeaturesFailedBadLen, "%d bytes left after the last table, ofp_table_features needs 64", len(b))
		}
		n := int(be.Uint16(b))
		if n < 64 || n%8 != 0 || n > len(b) {
			return nil, Errorf(ErrTableFeaturesFailed, TableFeaturesFailedBadLen, "ofp_table_features length %d (%d remain; a multiple of 8, at least 64)", n, len(b))
		}
		if len(out) >= MaxTableFeatures {
			return nil, Errorf(ErrTableFeaturesFailed, TableFeaturesFailedBadArgument, "more than %d tables", MaxTableFeatures)
		}
		t := TableFeatures{TableID: b[2], Command: b[3], Name: cstring(b[8:40]), MetadataMatch: be.Uint64(b[40:]), MetadataWrite: be.Uint64(b[48:]), Config: be.Uint32(b[56:]), MaxEntries: be.Uint32(b[60:])}
		p := b[64:n]
		for len(p) > 0 {
			if len(p) < 4 {
				return nil, Errorf(ErrTableFeaturesFailed, TableFeaturesFailedBadLen, "table %d: truncated property", t.TableID)
			}
			pt, pl := be.Uint16(p), int(be.Uint16(p[2:]))
			if pl < 4 || pad8(pl) > len(p) {
				return nil, Errorf(ErrTableFeaturesFailed, TableFeaturesFailedBadLen, "table %d: property %d of length %d (%d remain)", t.TableID, pt, pl, len(p))
			}
			t.Properties = append(t.Properties, TableFeatureProp{PropType: pt, Data: p[4:pl]})
			p = p[pad8(pl):]
		}
		out = append(out, t)
		b = b[n:]
	}
	return out, nil
}

func parseMultipartReply(body []byte, v uint8) (*MultipartReply, error) {
	hl := mpHeaderLen(v)
	if err := bodyMin(body, "MULTIPART_REPLY", hl); err != nil {
		return nil, err
	}
	t, flags, b := MultipartType(be.Uint16(body)), be.Uint16(body[2:]), body[hl:]
	m := &MultipartReply{Flags: flags}
	bad := func(what string, n int) error {
		return Errorf(ErrBadRequest, BadRequestBadLen, "%s reply: %d bytes left, an entry needs %d", what, len(b), n)
	}
	nxm := false
	if t == MultipartExperimenter {
		if len(b) < 8 {
			return nil, bad("experimenter", 8)
		}
		exp, sub := be.Uint32(b), be.Uint32(b[4:])
		if !(exp == ExperimenterNicira && v == Version10 && (sub == nxstFlow || sub == nxstAggregate) && len(b) >= nxStatsHeaderLen) {
			m.Body = &ExperimenterMultipart{Experimenter: exp, ExpType: sub, Data: b[8:]}
			return m, nil
		}
		t, nxm, b = MultipartFlow, true, b[nxStatsHeaderLen:]
		if sub == nxstAggregate {
			t = MultipartAggregate
		}
	}
	switch t {
	case MultipartDesc:
		if len(b) != 1056 {
			return nil, bad("desc", 1056)
		}
		m.Body = &DescStats{MfrDesc: cstring(b[:256]), HWDesc: cstring(b[256:512]), SWDesc: cstring(b[512:768]), SerialNum: cstring(b[768:800]), DPDesc: cstring(b[800:1056])}
	case MultipartFlow:
		r := &FlowStatsReply{NXM: nxm}
		for len(b) > 0 {
			f, n, err := parseFlowStats(b, v, nxm)
			if err != nil {
				return nil, err
			}
			r.Flows = append(r.Flows, f)
			b = b[n:]
		}
		m.Body = r
	case MultipartAggregate:
		if len(b) != 24 {
			return nil, bad("aggregate", 24)
		}
		m.Body = &AggregateStats{PacketCount: be.Uint64(b), ByteCount: be.Uint64(b[8:]), FlowCount: be.Uint32(b[16:]), NXM: nxm}
	case MultipartTable:
		r := &TableStatsReply{}
		n := 24
		if v == Version10 {
			n = 64
		}
		for ; len(b) >= n; b = b[n:] {
			if v == Version10 {
				r.Tables = append(r.Tables, TableStats{TableID: b[0], Name: cstring(b[4:36]), Wildcards: be.Uint32(b[36:]), MaxEntries: be.Uint32(b[40:]), ActiveCount: be.Uint32(b[44:]), LookupCount: be.Uint64(b[48:]), MatchedCount: be.Uint64(b[56:])})
			} else {
				r.Tables = append(r.Tables, TableStats{TableID: b[0], ActiveCount: be.Uint32(b[4:]), LookupCount: be.Uint64(b[8:]), MatchedCount: be.Uint64(b[16:])})
			}
		}
		if len(b) != 0 {
			return nil, bad("table", n)
		}
		m.Body = r
	case MultipartPortStats:
		r := &PortStatsReply{}
		n, at := 112, 8
		if v == Version10 {
			n = 104
		}
		for ; len(b) >= n; b = b[n:] {
			p := PortStats{}
			if v == Version10 {
				p.PortNo = PortFrom10(be.Uint16(b))
			} else {
				p.PortNo = be.Uint32(b)
				p.DurationSec, p.DurationNsec = be.Uint32(b[104:]), be.Uint32(b[108:])
			}
			c := []*uint64{&p.RxPackets, &p.TxPackets, &p.RxBytes, &p.TxBytes, &p.RxDropped, &p.TxDropped, &p.RxErrors, &p.TxErrors, &p.RxFrameErr, &p.RxOverErr, &p.RxCRCErr, &p.Collisions}
			for i, x := range c {
				*x = be.Uint64(b[at+8*i:])
			}
			r.Ports = append(r.Ports, p)
		}
		if len(b) != 0 {
			return nil, bad("port stats", n)
		}
		m.Body = r
	case MultipartPortDesc:
		r := &PortDescReply{}
		n := port13Len
		if v == Version10 {
			n = port10Len
		}
		for ; len(b) >= n; b = b[n:] {
			if v == Version10 {
				r.Ports = append(r.Ports, parsePort10(b))
			} else {
				r.Ports = append(r.Ports, parsePort13(b))
			}
		}
		if len(b) != 0 {
			return nil, bad("port desc", n)
		}
		m.Body = r
	case MultipartQueue:
		r := &QueueStatsReply{}
		n := 40
		if v == Version10 {
			n = 32
		}
		for ; len(b) >= n; b = b[n:] {
			q := QueueStats{QueueID: be.Uint32(b[4:]), TxBytes: be.Uint64(b[8:]), TxPackets: be.Uint64(b[16:]), TxErrors: be.Uint64(b[24:])}
			if v == Version10 {
				q.PortNo = PortFrom10(be.Uint16(b))
			} else {
				q.PortNo, q.DurationSec, q.DurationNsec = be.Uint32(b), be.Uint32(b[32:]), be.Uint32(b[36:])
			}
			r.Queues = append(r.Queues, q)
		}
		if len(b) != 0 {
			return nil, bad("queue", n)
		}
		m.Body = r
	default:
		if v == Version10 {
			return nil, Errorf(ErrBadRequest, BadRequestBadMultipart, "stats type %d is not an OpenFlow 1.0 stats type", t)
		}
		body, err := parseReply13(t, b)
		if err != nil {
			return nil, err
		}
		m.Body = body
	}
	return m, nil
}

func parseReply13(t MultipartType, b []byte) (MultipartBody, error) {
	entry := func(min int, lenAt int) (int, error) {
		if len(b) < min {
			return 0, Errorf(ErrBadRequest, BadRequestBadLen, "%s reply: %d bytes left, an entry needs %d", t, len(b), min)
		}
		n := int(be.Uint16(b[lenAt:]))
		if n < min || n > len(b) {
			return 0, Errorf(ErrBadRequest, BadRequestBadLen, "%s reply: entry length %d (%d remain)", t, n, len(b))
		}
		return n, nil
	}
	switch t {
	case MultipartGroup:
		r := &GroupStatsReply{}
		for len(b) > 0 {
			n, err := entry(40, 0)
			if err != nil {
				return nil, err
			}
			if (n-40)%16 != 0 {
				return nil, Errorf(ErrBadRequest, BadRequestBadLen, "group stats entry of %d bytes", n)
			}
			g := GroupStats{GroupID: be.Uint32(b[4:]), RefCount: be.Uint32(b[8:]), PacketCount: be.Uint64(b[16:]), ByteCount: be.Uint64(b[24:]), DurationSec: be.Uint32(b[32:]), DurationNsec: be.Uint32(b[36:])}
			for p := b[40:n]; len(p) >= 16; p = p[16:] {
				g.Buckets = append(g.Buckets, BucketCounter{PacketCount: be.Uint64(p), ByteCount: be.Uint64(p[8:])})
			}
			r.Groups = append(r.Groups, g)
			b = b[n:]
		}
		return r, nil
	case MultipartGroupDesc:
		r := &GroupDescReply{}
		for len(b) > 0 {
			n, err := entry(8, 0)
			if err != nil {
				return nil, err
			}
			buckets, err := parseBuckets(b[8:n])
			if err != nil {
				return nil, err
			}
			r.Groups = append(r.Groups, GroupDesc{GroupType: b[2], GroupID: be.Uint32(b[4:]), Buckets: buckets})
			b = b[n:]
		}
		return r, nil
	case MultipartGroupFeatures:
		if len(b) != 40 {
			return nil, Errorf(ErrBadRequest, BadRequestBadLen, "group features reply of %d bytes, must be 40", len(b))
		}
		g := &GroupFeatures{Types: be.Uint32(b), Capabilities: be.Uint32(b[4:])}
		for i := 0; i < 4; i++ {
			g.MaxGroups[i], g.Actions[i] = be.Uint32(b[8+4*i:]), be.Uint32(b[24+4*i:])
		}
		return g, nil
	case MultipartMeter:
		r := &MeterStatsReply{}
		for len(b) > 0 {
			n, err := entry(40, 4)
			if err != nil {
				return nil, err
			}
			if (n-40)%16 != 0 {
				return nil, Errorf(ErrBadRequest, BadRequestBadLen, "meter stats entry of %d bytes", n)
			}
			s := MeterStats{MeterID: be.Uint32(b), FlowCount: be.Uint32(b[12:]), PacketInCount: be.Uint64(b[16:]), ByteInCount: be.Uint64(b[24:]), DurationSec: be.Uint32(b[32:]), DurationNsec: be.Uint32(b[36:])}
			for p := b[40:n]; len(p) >= 16; p = p[16:] {
				s.Bands = append(s.Bands, MeterBandStats{PacketBandCount: be.Uint64(p), ByteBandCount: be.Uint64(p[8:])})
			}
			r.Meters = append(r.Meters, s)
			b = b[n:]
		}
		return r, nil
	case MultipartMeterConfig:
		r := &MeterConfigReply{}
		for len(b) > 0 {
			n, err := entry(8, 0)
			if err != nil {
				return nil, err
			}
			bands, err := parseBands(b[8:n])
			if err != nil {
				return nil, err
			}
			r.Meters = append(r.Meters, MeterConfig{Flags: be.Uint16(b[2:]), MeterID: be.Uint32(b[4:]), Bands: bands})
			b = b[n:]
		}
		return r, nil
	case MultipartMeterFeatures:
		if len(b) != 16 {
			return nil, Errorf(ErrBadRequest, BadRequestBadLen, "meter features reply of %d bytes, must be 16", len(b))
		}
		return &MeterFeatures{MaxMeter: be.Uint32(b), BandTypes: be.Uint32(b[4:]), Capabilities: be.Uint32(b[8:]), MaxBands: b[12], MaxColor: b[13]}, nil
	case MultipartTableFeatures:
		tf, err := parseTableFeaturesList(b)
		if err != nil {
			return nil, err
		}
		return &TableFeaturesReply{Tables: tf}, nil
	}
	return nil, Errorf(ErrBadRequest, BadRequestBadMultipart, "multipart type %d", t)
}

func parseFlowStats(b []byte, v uint8, nxm bool) (FlowStats, int, error) {
	min := 56
	switch {
	case v == Version10 && nxm:
		min = 48
	case v == Version10:
		min = 88
	}
	if len(b) < min {
		return FlowStats{}, 0, Errorf(ErrBadRequest, BadRequestBadLen, "flow stats entry: %d bytes left, needs %d", len(b), min)
	}
	n := int(be.Uint16(b))
	if n < min || n > len(b) {
		return FlowStats{}, 0, Errorf(ErrBadRequest, BadRequestBadLen, "flow stats entry length %d (%d remain)", n, len(b))
	}
	e := b[:n]
	f := FlowStats{TableID: e[2]}
	var acts []Action
	var err error
	switch {
	case v == Version10 && nxm:
		f.DurationSec, f.DurationNsec = be.Uint32(e[4:]), be.Uint32(e[8:])
		f.Priority, f.IdleTimeout, f.HardTimeout = be.Uint16(e[12:]), be.Uint16(e[14:]), be.Uint16(e[16:])
		f.IdleAge, f.HardAge = be.Uint16(e[20:]), be.Uint16(e[22:])
		f.Cookie, f.PacketCount, f.ByteCount = be.Uint64(e[24:]), be.Uint64(e[32:]), be.Uint64(e[40:])
		match, k, err2 := parseNXM(e[48:], int(be.Uint16(e[18:])))
		if err2 != nil {
			return FlowStats{}, 0, err2
		}
		f.Match = match
		acts, err = ParseActions(e[48+k:], Version10)
	case v == Version10:
		if f.Match, err = parseMatch10(e[4:]); err != nil {
			return FlowStats{}, 0, err
		}
		f.DurationSec, f.DurationNsec = be.Uint32(e[44:]), be.Uint32(e[48:])
		f.Priority, f.IdleTimeout, f.HardTimeout = be.Uint16(e[52:]), be.Uint16(e[54:]), be.Uint16(e[56:])
		f.Cookie, f.PacketCount, f.ByteCount = be.Uint64(e[64:]), be.Uint64(e[72:]), be.Uint64(e[80:])
		acts, err = ParseActions(e[88:], Version10)
	default:
		f.DurationSec, f.DurationNsec = be.Uint32(e[4:]), be.Uint32(e[8:])
		f.Priority, f.IdleTimeout, f.HardTimeout, f.Flags = be.Uint16(e[12:]), be.Uint16(e[14:]), be.Uint16(e[16:]), be.Uint16(e[18:])
		f.Cookie, f.PacketCount, f.ByteCount = be.Uint64(e[24:]), be.Uint64(e[32:]), be.Uint64(e[40:])
		match, k, err2 := parseMatch13(e[48:])
		if err2 != nil {
			return FlowStats{}, 0, err2
		}
		f.Match = match
		f.Instructions, err = ParseInstructions(e[48+k:])
	}
	if err != nil {
		return FlowStats{}, 0, err
	}
	if len(acts) > 0 {
		f.Instructions = []Instruction{InstApplyActions{Actions: acts}}
	}
	return f, n, nil
}

// MarshalMultipartReply encodes a reply, split into as many messages as
// needed so that none exceeds maxLen bytes (0: 65535), with
// MultipartReplyMore on all but the last. A single item larger than one
// message is an error.
func MarshalMultipartReply(v uint8, xid uint32, body MultipartBody, maxLen int) ([][]byte, error) {
	if maxLen <= 0 || maxLen > MaxMessageLen {
		maxLen = MaxMessageLen
	}
	hdr := make([]byte, HeaderLen, 32)
	hdr[0] = v
	be.PutUint32(hdr[4:], xid)
	if err := setType(hdr, TypeMultipartReply, v); err != nil {
		return nil, err
	}
	hdr = appendMPHeader(hdr, v, body, 0)
	items, err := replyItems(nil, v, body)
	if err != nil {
		return nil, err
	}
	room := maxLen - len(hdr)
	var msgs [][]byte
	start := 0
	flush := func(end int) {
		msg := make([]byte, 0, len(hdr)+end-start)
		msg = append(append(msg, hdr...), items.buf[start:end]...)
		be.PutUint16(msg[2:], uint16(len(msg)))
		msgs = append(msgs, msg)
		start = end
	}
	prev := 0
	for _, end := range items.ends {
		if end-prev > room {
			return nil, Errorf(ErrBadRequest, BadRequestBadLen, "%s entry of %d bytes does not fit in one message", body.MultipartType(), end-prev)
		}
		if end-start > room {
			flush(prev)
		}
		prev = end
	}
	if start < len(items.buf) || len(msgs) == 0 {
		flush(len(items.buf))
	}
	for _, m := range msgs[:len(msgs)-1] {
		be.PutUint16(m[10:], be.Uint16(m[10:])|MultipartReplyMore)
	}
	return msgs, nil
}
