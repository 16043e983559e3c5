package ofp

// TableCaps describes what a flow table can do, for building
// OFPMP_TABLE_FEATURES replies.
type TableCaps struct {
	// Instructions are instruction types (1 goto_table … 6 meter).
	Instructions []uint16
	// Actions are OpenFlow 1.3 action types (0 output, 17 push_vlan …)
	// usable in write_actions and apply_actions.
	Actions []uint16
	// Match lists the fields a flow may match; Maskable tells which of
	// them may be masked (they are also listed as wildcards).
	Match    []FieldID
	Maskable func(FieldID) bool
	// SetFields lists the fields set_field may write.
	SetFields     []FieldID
	MetadataMatch uint64
	MetadataWrite uint64
}

// DefaultTableCaps is everything this codec can carry: every instruction,
// the OpenFlow 1.3 actions but PBB, every field it knows (masks where the
// field allows them) and set-field for every writable one.
func DefaultTableCaps() TableCaps {
	c := TableCaps{
		Instructions:  []uint16{itGotoTable, itWriteMetadata, itWriteActions, itApplyActions, itClearActions, itMeter},
		Actions:       []uint16{at13Output, at13CopyTTLOut, at13CopyTTLIn, at13SetMPLSTTL, at13DecMPLSTTL, at13PushVLAN, at13PopVLAN, at13PushMPLS, at13PopMPLS, at13SetQueue, at13Group, at13SetNWTTL, at13DecNWTTL, at13SetField},
		Maskable:      FieldID.Maskable,
		MetadataMatch: ^uint64(0),
		MetadataWrite: ^uint64(0),
	}
	for id := FieldInPort; id < FieldInPort16; id++ {
		if canon[id] == nil {
			continue
		}
		c.Match = append(c.Match, id)
		if !readOnly[id] && id != FieldInPort {
			c.SetFields = append(c.SetFields, id)
		}
	}
	return c
}

// BuildTableFeatures returns the features of tables 0…n-1 with the same
// capabilities, as Open vSwitch reports them: every table but the last may
// go to any later table; the table-miss properties are left out, which
// means "the same as for other flows".
func BuildTableFeatures(n int, maxEntries uint32, caps TableCaps) []TableFeatures {
	out := make([]TableFeatures, 0, n)
	var wild []FieldID
	for _, f := range caps.Match {
		if caps.Maskable != nil && caps.Maskable(f) {
			wild = append(wild, f)
		}
	}
	for t := 0; t < n; t++ {
		insts := caps.Instructions
		var next []uint8
		if t == n-1 {
			insts = nil
			for _, i := range caps.Instructions {
				if i != itGotoTable {
					insts = append(insts, i)
				}
			}
		} else {
			for u := t + 1; u < n; u++ {
				next = append(next, uint8(u))
			}
		}
		out = append(out, TableFeatures{
			TableID: uint8(t), MetadataMatch: caps.MetadataMatch, MetadataWrite: caps.MetadataWrite, MaxEntries: maxEntries,
			Properties: []TableFeatureProp{
				PropInstructions(TFPInstructions, insts...),
				PropNextTables(TFPNextTables, next...),
				PropActions(TFPWriteActions, caps.Actions...),
				PropActions(TFPApplyActions, caps.Actions...),
				PropFields(TFPMatch, caps.Maskable, caps.Match...),
				PropFields(TFPWildcards, nil, wild...),
				PropFields(TFPWriteSetfield, nil, caps.SetFields...),
				PropFields(TFPApplySetfield, nil, caps.SetFields...),
			},
		})
	}
	return out
}
