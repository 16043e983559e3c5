package ofbackend

import (
	"time"

	dp "github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// GroupConfig converts a checked group-mod (ofp.CheckGroupMod; add or
// modify) into the engine's group.
func GroupConfig(gm *ofp.GroupMod, pm PortMap) (dp.GroupConfig, error) {
	cfg := dp.GroupConfig{ID: gm.GroupID, Type: dp.GroupType(gm.GroupType)}
	for _, b := range gm.Buckets {
		acts, err := Actions(b.Actions, pm)
		if err != nil {
			return dp.GroupConfig{}, err
		}
		wp := b.WatchPort
		if wp != ofp.PortAny {
			wp = pm.ToEngine(wp)
		}
		cfg.Buckets = append(cfg.Buckets, dp.Bucket{Weight: b.Weight, WatchPort: wp, WatchGroup: b.WatchGroup, Actions: acts})
	}
	return cfg, nil
}

// GroupDesc converts an engine group into OpenFlow's description.
func GroupDesc(e dp.GroupEntry, pm PortMap) ofp.GroupDesc {
	d := ofp.GroupDesc{GroupType: uint8(e.Config.Type), GroupID: e.Config.ID}
	for _, b := range e.Config.Buckets {
		wp := b.WatchPort
		if wp != dp.PortAny {
			wp = pm.ToOF(wp)
		}
		d.Buckets = append(d.Buckets, ofp.Bucket{Weight: b.Weight, WatchPort: wp, WatchGroup: b.WatchGroup, Actions: ActionsToOF(b.Actions, pm, nil)})
	}
	return d
}

// GroupStats converts an engine group's counters.
func GroupStats(e dp.GroupEntry) ofp.GroupStats {
	s := ofp.GroupStats{GroupID: e.Config.ID, RefCount: uint32(e.RefCount), PacketCount: e.Packets, ByteCount: e.Bytes,
		DurationSec: uint32(e.Duration / time.Second), DurationNsec: uint32(e.Duration % time.Second)}
	for _, b := range e.Buckets {
		s.Buckets = append(s.Buckets, ofp.BucketCounter{PacketCount: b.Packets, ByteCount: b.Bytes})
	}
	return s
}

// GroupFeatures is what the engine's groups can do.
func GroupFeatures() *ofp.GroupFeatures {
	f := &ofp.GroupFeatures{
		Types:        1<<ofp.GroupTypeAll | 1<<ofp.GroupTypeSelect | 1<<ofp.GroupTypeIndirect | 1<<ofp.GroupTypeFastFailover,
		Capabilities: ofp.GroupCapSelectWeight | ofp.GroupCapSelectLiveness | ofp.GroupCapChaining | ofp.GroupCapChainingChecks,
	}
	// Actions usable in buckets (OpenFlow 1.3 action type bits): output,
	// push/pop_vlan, set_queue, group, set_nw_ttl, dec_nw_ttl, set_field.
	acts := uint32(1<<0 | 1<<17 | 1<<18 | 1<<21 | 1<<22 | 1<<23 | 1<<24 | 1<<25)
	for i := range f.MaxGroups {
		f.MaxGroups[i] = dp.MaxGroups
		f.Actions[i] = acts
	}
	return f
}

// MeterConfig converts a checked meter-mod (ofp.CheckMeterMod; add or
// modify) into the engine's meter.
func MeterConfig(mm *ofp.MeterMod) (dp.MeterConfig, error) {
	cfg := dp.MeterConfig{ID: mm.MeterID, Packets: mm.Flags&ofp.MeterFlagPktps != 0, Burst: mm.Flags&ofp.MeterFlagBurst != 0, Stats: mm.Flags&ofp.MeterFlagStats != 0}
	for i, b := range mm.Bands {
		var t dp.MeterBandType
		switch b.BandType {
		case ofp.MeterBandDrop:
			t = dp.MeterBandDrop
		case ofp.MeterBandDSCPRemark:
			t = dp.MeterBandDSCPRemark
		default:
			return dp.MeterConfig{}, ofp.Errorf(ofp.ErrMeterModFailed, ofp.MeterModFailedBadBand, "band %d: type %d (drop and dscp_remark are supported)", i, b.BandType)
		}
		cfg.Bands = append(cfg.Bands, dp.MeterBand{Type: t, Rate: b.Rate, Burst: b.BurstSize, PrecLevel: b.PrecLevel})
	}
	return cfg, nil
}

// MeterConfigToOF converts an engine meter into OpenFlow's meter config.
func MeterConfigToOF(c dp.MeterConfig) ofp.MeterConfig {
	mc := ofp.MeterConfig{MeterID: c.ID, Flags: ofp.MeterFlagKbps}
	if c.Packets {
		mc.Flags = ofp.MeterFlagPktps
	}
	if c.Burst {
		mc.Flags |= ofp.MeterFlagBurst
	}
	if c.Stats {
		mc.Flags |= ofp.MeterFlagStats
	}
	for _, b := range c.Bands {
		t := ofp.MeterBandDrop
		if b.Type == dp.MeterBandDSCPRemark {
			t = ofp.MeterBandDSCPRemark
		}
		mc.Bands = append(mc.Bands, ofp.MeterBand{BandType: t, Rate: b.Rate, BurstSize: b.Burst, PrecLevel: b.PrecLevel})
	}
	return mc
}

// MeterStats converts an engine meter's counters.
func MeterStats(e dp.MeterEntry) ofp.MeterStats {
	s := ofp.MeterStats{MeterID: e.Config.ID, FlowCount: uint32(e.FlowCount), PacketInCount: e.Packets, ByteInCount: e.Bytes,
		DurationSec: uint32(e.Duration / time.Second), DurationNsec: uint32(e.Duration % time.Second)}
	for _, b := range e.Bands {
		s.Bands = append(s.Bands, ofp.MeterBandStats{PacketBandCount: b.Packets, ByteBandCount: b.Bytes})
	}
	return s
}

// MeterFeatures is what the engine's meters can do.
func MeterFeatures() *ofp.MeterFeatures {
	return &ofp.MeterFeatures{MaxMeter: dp.MaxMeters, BandTypes: 1<<ofp.MeterBandDrop | 1<<ofp.MeterBandDSCPRemark,
		Capabilities: uint32(ofp.MeterFlagKbps | ofp.MeterFlagPktps | ofp.MeterFlagBurst | ofp.MeterFlagStats), MaxBands: dp.MaxMeterBands, MaxColor: 0}
}

// TableCaps describes the engine's flow tables for OFPMP_TABLE_FEATURES:
// the fields it matches and writes, every instruction, the actions it
// runs.
func TableCaps() ofp.TableCaps {
	c := ofp.DefaultTableCaps()
	keep := func(l []ofp.FieldID) []ofp.FieldID {
		var out []ofp.FieldID
		for _, f := range l {
			if Supported(f) {
				out = append(out, f)
			}
		}
		return out
	}
	c.Match, c.SetFields = keep(c.Match), keep(c.SetFields)
	c.Actions = []uint16{0, 17, 18, 21, 22, 23, 24, 25} // output, push/pop_vlan, set_queue, group, set/dec_nw_ttl, set_field
	return c
}
