package ofbackend

import (
	"errors"
	"time"

	dp "github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// FlowMod converts a checked flow-mod (ofp.CheckFlowMod) into the engine's.
// addIfNone says the flow-mod is an OpenFlow 1.0 (or NXM) modify, which
// adds the flow when it modifies none.
func FlowMod(fm *ofp.FlowMod, pm PortMap) (mod dp.FlowMod, addIfNone bool, err error) {
	addIfNone, err = FlowModInto(&mod, fm, pm)
	return mod, addIfNone, err
}

// FlowModInto is FlowMod into *mod (which it overwrites): a caller that
// converts many flow-mods reuses one.
func FlowModInto(mod *dp.FlowMod, fm *ofp.FlowMod, pm PortMap) (addIfNone bool, err error) {
	*mod = dp.FlowMod{}
	switch fm.Command {
	case ofp.FlowAdd:
		mod.Command = dp.FlowAdd
	case ofp.FlowModify:
		mod.Command = dp.FlowModify
	case ofp.FlowModifyStrict:
		mod.Command = dp.FlowModifyStrict
	case ofp.FlowDelete:
		mod.Command = dp.FlowDelete
	case ofp.FlowDeleteStrict:
		mod.Command = dp.FlowDeleteStrict
	default:
		return false, ofp.Errorf(ofp.ErrFlowModFailed, ofp.FlowModFailedBadCommand, "command %d", fm.Command)
	}
	if fm.TableID != ofp.TableAll && int(fm.TableID) >= dp.NumTables {
		return false, ofp.Errorf(ofp.ErrFlowModFailed, ofp.FlowModFailedBadTableID, "table %d (0-%d)", fm.TableID, dp.NumTables-1)
	}
	m, err := match(&fm.Match, pm) // the engine validates it when it applies the flow-mod
	if err != nil {
		return false, err
	}
	r := &mod.Rule
	r.Table, r.Priority, r.Match = fm.TableID, fm.Priority, m
	r.IdleTimeout, r.HardTimeout = fm.IdleTimeout, fm.HardTimeout
	r.Flags = fm.Flags & (dp.FlagSendFlowRem | dp.FlagCheckOverlap | dp.FlagResetCounts | dp.FlagNoPktCounts | dp.FlagNoBytCounts)
	if fm.Version == ofp.Version10 {
		r.Flags &= dp.FlagSendFlowRem | dp.FlagCheckOverlap
	}
	r.Origin = dp.OriginOpenFlow
	r.Instr.Goto = dp.NoGoto
	mod.OutPort, mod.OutGroup = dp.PortAny, dp.GroupAny
	switch mod.Command {
	case dp.FlowAdd:
		r.Cookie, _ = fm.NewCookie()
	case dp.FlowModify, dp.FlowModifyStrict:
		r.Cookie, mod.CookieMask = fm.CookieFilter()
		if c, ok := fm.NewCookie(); ok {
			mod.SetCookie, mod.NewCookie = true, c
		}
		addIfNone = fm.Version == ofp.Version10
	default:
		r.Cookie, mod.CookieMask = fm.CookieFilter()
		if fm.OutPort != ofp.PortAny {
			mod.OutPort = pm.ToEngine(fm.OutPort)
		}
		mod.OutGroup = fm.OutGroup
	}
	if mod.Command == dp.FlowAdd || mod.Command == dp.FlowModify || mod.Command == dp.FlowModifyStrict {
		if r.Instr, err = Instructions(fm.Instructions, pm); err != nil {
			return false, err
		}
	}
	return addIfNone, nil
}

// AddFrom returns the add a 1.0 modify becomes when it modifies nothing.
func AddFrom(mod dp.FlowMod) dp.FlowMod {
	a := mod
	a.Command = dp.FlowAdd
	if a.SetCookie {
		a.Rule.Cookie = a.NewCookie
	}
	if a.Rule.Table == dp.TableAll {
		a.Rule.Table = 0
	}
	a.CookieMask, a.SetCookie = 0, false
	return a
}

// FlowStats converts a dumped rule into an OpenFlow flow stats entry.
// Counters of rules with no_packet_counts / no_byte_counts are all ones
// (OpenFlow's "not kept").
func FlowStats(e dp.FlowEntry, pm PortMap) ofp.FlowStats {
	r := e.Rule
	d := e.Stats.Duration
	fs := ofp.FlowStats{TableID: r.Table, DurationSec: uint32(d / time.Second), DurationNsec: uint32(d % time.Second),
		Priority: r.Priority, IdleTimeout: r.IdleTimeout, HardTimeout: r.HardTimeout, Flags: r.Flags, Cookie: r.Cookie,
		PacketCount: e.Stats.Packets, ByteCount: e.Stats.Bytes, Match: MatchToOF(&r.Match, pm),
		Instructions: InstructionsToOF(&r.Instr, pm, &r.Match),
		IdleAge:      uint16(min(uint64(e.Stats.IdleAge)+1, 0xffff)), HardAge: uint16(min(uint64(d/time.Second)+1, 0xffff))}
	if r.Flags&dp.FlagNoPktCounts != 0 {
		fs.PacketCount = ^uint64(0)
	}
	if r.Flags&dp.FlagNoBytCounts != 0 {
		fs.ByteCount = ^uint64(0)
	}
	return fs
}

// RemovedReason is OpenFlow's flow-removed reason for an engine reason
// (ok false: no FLOW_REMOVED is due, as for a replaced rule).
func RemovedReason(r dp.RemovedReason) (uint8, bool) {
	switch r {
	case dp.RemovedIdle:
		return ofp.RemovedIdleTimeout, true
	case dp.RemovedHard:
		return ofp.RemovedHardTimeout, true
	case dp.RemovedDelete:
		return ofp.RemovedDelete, true
	case dp.RemovedGroupDelete:
		return ofp.RemovedGroupDelete, true
	case dp.RemovedMeterDelete:
		// OpenFlow 1.4's; 1.3 controllers know it as a delete.
		return ofp.RemovedDelete, true
	}
	return 0, false
}

// FlowRemoved converts a removed rule into OFPT_FLOW_REMOVED (ok false: no
// message is due).
func FlowRemoved(fr dp.FlowRemoved, pm PortMap) (*ofp.FlowRemoved, bool) {
	reason, ok := RemovedReason(fr.Reason)
	if !ok {
		return nil, false
	}
	r, d := fr.Rule, fr.Stats.Duration
	m := &ofp.FlowRemoved{Cookie: r.Cookie, Priority: r.Priority, Reason: reason, TableID: r.Table,
		DurationSec: uint32(d / time.Second), DurationNsec: uint32(d % time.Second), IdleTimeout: r.IdleTimeout, HardTimeout: r.HardTimeout,
		PacketCount: fr.Stats.Packets, ByteCount: fr.Stats.Bytes, Match: MatchToOF(&r.Match, pm)}
	if r.Flags&dp.FlagNoPktCounts != 0 {
		m.PacketCount = ^uint64(0)
	}
	if r.Flags&dp.FlagNoBytCounts != 0 {
		m.ByteCount = ^uint64(0)
	}
	return m, true
}

// Error turns an engine error into the OpenFlow error it deserves; what
// says what the request was ("flow", "group", "meter", "port",
// "packet-out"). Errors with no better code get the request's generic
// failure.
func Error(err error, what string) error {
	if err == nil {
		return nil
	}
	var oe *ofp.Error
	if errors.As(err, &oe) {
		return oe
	}
	return errorOf(err, what)
}

func errorOf(err error, what string) error {
	var oe *ofp.Error
	if errors.As(err, &oe) {
		return oe
	}
	msg := err.Error()
	mk := func(t ofp.ErrorType, c uint16) error { return &ofp.Error{Type: t, Code: c, Reason: msg} }
	switch {
	case errors.Is(err, dp.ErrOverlap):
		return mk(ofp.ErrFlowModFailed, ofp.FlowModFailedOverlap)
	case errors.Is(err, dp.ErrTableFull):
		return mk(ofp.ErrFlowModFailed, ofp.FlowModFailedTableFull)
	}
	e, ok := errs.As(err)
	if !ok {
		return err
	}
	switch what {
	case "group":
		switch e.Field {
		case "group":
			if e.Kind == errs.Exists {
				return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedGroupExists)
			}
			return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedUnknownGroup)
		case "bucket_group":
			return mk(ofp.ErrBadAction, ofp.BadActionBadOutGroup)
		case "watch_group", "watch_port":
			return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedBadWatch)
		case "group_loop":
			return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedLoop)
		case "chained_group":
			return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedChainedGroup)
		case "groups":
			return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedOutOfGroups)
		case "buckets":
			if e.Kind == errs.Failed {
				return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedOutOfBuckets)
			}
			return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedBadBucket)
		case "weight":
			return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedBadBucket)
		case "type":
			return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedBadType)
		case "group_id":
			return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedInvalidGroup)
		}
	case "meter":
		switch e.Field {
		case "meter":
			if e.Kind == errs.Exists {
				return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedMeterExists)
			}
			return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedUnknownMeter)
		case "meters":
			return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedOutOfMeters)
		case "bands":
			return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedOutOfBands)
		case "band":
			return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedBadBand)
		case "rate":
			return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedBadRate)
		case "burst_size":
			return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedBadBurst)
		case "prec_level":
			return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedBadBandValue)
		case "meter_id":
			return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedInvalidMeter)
		}
	case "packet-out":
		switch e.Field {
		case "in_port":
			return mk(ofp.ErrBadRequest, ofp.BadRequestBadPort)
		case "packet":
			return mk(ofp.ErrBadRequest, ofp.BadRequestBadPacket)
		}
	}
	// Flows and actions (also in group buckets and packet-outs).
	switch e.Field {
	case "table":
		return mk(ofp.ErrFlowModFailed, ofp.FlowModFailedBadTableID)
	case "goto_table":
		return mk(ofp.ErrBadInstruction, ofp.BadInstructionBadTableID)
	case "group":
		return mk(ofp.ErrBadAction, ofp.BadActionBadOutGroup)
	case "meter":
		return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedUnknownMeter)
	case "in_port":
		return mk(ofp.ErrBadMatch, ofp.BadMatchBadValue)
	case "output":
		return mk(ofp.ErrBadAction, ofp.BadActionBadOutPort)
	case "set_field":
		return mk(ofp.ErrBadAction, ofp.BadActionBadSetType)
	case "move":
		return mk(ofp.ErrBadAction, ofp.BadActionBadSetLen)
	case "push_vlan", "resubmit":
		return mk(ofp.ErrBadAction, ofp.BadActionBadArgument)
	case "actions":
		return mk(ofp.ErrBadAction, ofp.BadActionBadType)
	case "flow":
		return mk(ofp.ErrFlowModFailed, ofp.FlowModFailedUnknown)
	}
	if _, isField := dp.FieldByName(e.Field); isField || e.Field == "tcp_src" {
		// The engine's prerequisite check names the field.
		return mk(ofp.ErrBadMatch, ofp.BadMatchBadPrereq)
	}
	switch what {
	case "group":
		return mk(ofp.ErrGroupModFailed, ofp.GroupModFailedEPerm)
	case "meter":
		return mk(ofp.ErrMeterModFailed, ofp.MeterModFailedUnknown)
	case "port":
		return mk(ofp.ErrPortModFailed, ofp.PortModFailedEPerm)
	case "flow":
		return mk(ofp.ErrFlowModFailed, ofp.FlowModFailedEPerm)
	}
	return mk(ofp.ErrBadRequest, ofp.BadRequestEPerm)
}
