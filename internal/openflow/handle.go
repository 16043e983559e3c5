package openflow

import (
	"context"
	"time"

	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// handle processes one message of the negotiated version v. Messages of a
// connection are handled one after the other, in order.
func (c *conn) handle(v uint8, raw []byte) {
	h, err := ofp.ParseHeader(raw)
	if err != nil {
		c.sendError(v, 0, raw, err)
		return
	}
	if h.Version != v && h.Type != uint8(ofp.TypeHello) {
		c.sendError(v, h.XID, raw, ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadVersion, "message of version %s on an %s connection", ofp.VersionName(h.Version), ofp.VersionName(v)))
		return
	}
	_, m, err := ofp.UnmarshalOptions(raw, &c.opts)
	if err != nil {
		c.sendError(v, h.XID, raw, err)
		return
	}
	if err := c.dispatch(v, h.XID, m, raw); err != nil {
		c.sendError(v, h.XID, raw, err)
	}
}

// modifying reports whether a slave may not send m (OFPBRC_IS_SLAVE).
func modifying(m ofp.Message) bool {
	switch x := m.(type) {
	case *ofp.FlowMod, *ofp.GroupMod, *ofp.PortMod, *ofp.TableMod, *ofp.MeterMod, *ofp.PacketOut:
		return true
	case *ofp.MultipartRequest:
		tf, ok := x.Body.(*ofp.TableFeaturesRequest)
		return ok && len(tf.Tables) > 0
	}
	return false
}

func (c *conn) dispatch(v uint8, xid uint32, m ofp.Message, raw []byte) error {
	a := c.a
	if modifying(m) && c.isSlave() {
		return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestIsSlave, "%s from a controller in the slave role", m.Type())
	}
	ctx, cancel := c.ctx()
	defer cancel()
	switch x := m.(type) {
	case *ofp.Hello, *ofp.EchoReply:
		return nil
	case *ofp.ErrorMsg:
		c.log.Info("openflow peer sent an error", "error", x.Err(v).Error(), "xid", xid)
		return nil
	case *ofp.EchoRequest:
		c.reply(v, xid, &ofp.EchoReply{Data: x.Data})
		return nil

	case *ofp.FeaturesRequest:
		f, err := a.be.Features(ctx)
		if err != nil {
			return err
		}
		r := &ofp.FeaturesReply{DatapathID: f.DatapathID, NTables: f.NTables, Capabilities: f.Capabilities}
		if r.Capabilities == 0 {
			r.Capabilities = ofp.CapFlowStats | ofp.CapTableStats | ofp.CapPortStats | ofp.CapGroupStats | ofp.CapQueueStats
		}
		if v == ofp.Version10 {
			// 1.0 has no group statistics; its bit 3 is STP.
			r.Capabilities = r.Capabilities&^(ofp.CapGroupStats|ofp.CapPortBlocked) | ofp.CapARPMatchIP
			r.Actions10 = actions10Bitmap
			if r.Ports, err = a.be.Ports(ctx); err != nil {
				return err
			}
		}
		c.reply(v, xid, r)
		return nil

	case *ofp.GetConfigRequest:
		st := c.settings.Load()
		a.mu.Lock()
		flags := a.fragMode
		a.mu.Unlock()
		if st.invalidTTL {
			flags |= ofp.ConfigInvalidTTLToController
		}
		c.reply(v, xid, &ofp.GetConfigReply{SwitchConfig: ofp.SwitchConfig{Flags: flags, MissSendLen: st.missSendLen}})
		return nil

	case *ofp.SetConfig:
		return c.setConfig(ctx, x)

	case *ofp.PacketOut:
		po, err := ofp.CheckPacketOut(x)
		if err != nil {
			return err
		}
		return backendErr(a.be.PacketOut(ctx, po), ofp.ErrBadRequest, ofp.BadRequestEPerm)

	case *ofp.FlowMod:
		fm, err := ofp.CheckFlowMod(x)
		if err != nil {
			return err
		}
		buffered := fm.BufferID != ofp.NoBuffer
		fm.BufferID = ofp.NoBuffer
		if err := backendErr(a.be.FlowMod(ctx, fm), ofp.ErrFlowModFailed, ofp.FlowModFailedUnknown); err != nil {
			return err
		}
		if buffered && fm.Command != ofp.FlowDelete && fm.Command != ofp.FlowDeleteStrict {
			return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBufferUnknown, "buffer %d: the switch keeps no buffers (the flow-mod was applied)", x.BufferID)
		}
		return nil

	case *ofp.GroupMod:
		gm, err := ofp.CheckGroupMod(x)
		if err != nil {
			return err
		}
		return backendErr(a.be.GroupMod(ctx, gm), ofp.ErrGroupModFailed, ofp.GroupModFailedEPerm)

	case *ofp.MeterMod:
		if err := ofp.CheckMeterMod(x); err != nil {
			return err
		}
		return backendErr(a.be.MeterMod(ctx, x), ofp.ErrMeterModFailed, ofp.MeterModFailedUnknown)

	case *ofp.PortMod:
		allowed := uint32(ofp.PortConfigDown | ofp.PortConfigNoRecv | ofp.PortConfigNoFwd | ofp.PortConfigNoPacketIn)
		if v == ofp.Version10 {
			allowed |= ofp.PortConfigNoSTP10 | ofp.PortConfigNoRecvSTP10 | ofp.PortConfigNoFlood10
		}
		if (x.Config|x.Mask)&^allowed != 0 {
			return ofp.Errorf(ofp.ErrPortModFailed, ofp.PortModFailedBadConfig, "config 0x%x mask 0x%x: unknown bits 0x%x (port_down, no_recv, no_fwd, no_packet_in)", x.Config, x.Mask, (x.Config|x.Mask)&^allowed)
		}
		if x.PortNo == 0 || (x.PortNo > ofp.PortMax && x.PortNo != ofp.PortLocal) {
			return ofp.Errorf(ofp.ErrPortModFailed, ofp.PortModFailedBadPort, "port %d (1 to 0x%x or LOCAL)", x.PortNo, ofp.PortMax)
		}
		return backendErr(a.be.PortMod(ctx, x), ofp.ErrPortModFailed, ofp.PortModFailedEPerm)

	case *ofp.TableMod:
		if x.TableID > ofp.TableMax && x.TableID != ofp.TableAll {
			return ofp.Errorf(ofp.ErrTableModFailed, ofp.TableModFailedBadTable, "table %d", x.TableID)
		}
		if x.Config&^3 != 0 {
			return ofp.Errorf(ofp.ErrTableModFailed, ofp.TableModFailedBadConfig, "config 0x%x: OpenFlow 1.3 defines only the deprecated miss bits (0x3)", x.Config)
		}
		return backendErr(a.be.TableMod(ctx, x), ofp.ErrTableModFailed, ofp.TableModFailedEPerm)

	case *ofp.MultipartRequest:
		return c.multipart(ctx, v, xid, x, raw)

	case *ofp.BarrierRequest:
		bctx, bcancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		err := a.be.Barrier(bctx)
		bcancel()
		if err != nil {
			return backendErr(err, ofp.ErrBadRequest, ofp.BadRequestEPerm)
		}
		// Packet-ins and flow-removed messages the backend emitted
		// before the barrier go out before its reply.
		a.flushEvents(time.Second)
		c.reply(v, xid, &ofp.BarrierReply{})
		return nil

	case *ofp.QueueGetConfigRequest:
		if x.Port == 0 || (x.Port > ofp.PortMax && x.Port != ofp.PortAny) {
			return ofp.Errorf(ofp.ErrQueueOpFailed, ofp.QueueOpFailedBadPort, "port %d (a port or ANY)", x.Port)
		}
		qs, err := a.be.Queues(ctx, x.Port)
		if err != nil {
			return backendErr(err, ofp.ErrQueueOpFailed, ofp.QueueOpFailedEPerm)
		}
		c.reply(v, xid, &ofp.QueueGetConfigReply{Port: x.Port, Queues: qs})
		return nil

	case *ofp.RoleRequest:
		role, gen, err := a.roleRequest(c, x.Role, x.GenerationID, !x.Nicira)
		if err != nil {
			return err
		}
		c.reply(v, xid, &ofp.RoleReply{RoleRequest: ofp.RoleRequest{Role: role, GenerationID: gen, Nicira: x.Nicira}})
		return nil

	case *ofp.GetAsyncRequest:
		c.reply(v, xid, &ofp.GetAsyncReply{AsyncConfig: c.settings.Load().async})
		return nil

	case *ofp.SetAsync:
		c.update(func(s *connSettings) { s.async = x.AsyncConfig })
		return nil

	case *ofp.NXSetFlowFormat:
		if x.Format != ofp.FlowFormatOpenFlow10 && x.Format != ofp.FlowFormatNXM {
			return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestEPerm, "flow format %d (0 openflow10, 2 nxm)", x.Format)
		}
		c.update(func(s *connSettings) { s.flowFormat = x.Format })
		return nil

	case *ofp.NXFlowModTableID:
		c.opts.FlowModTableID = x.Enable
		return nil

	case *ofp.NXSetPacketInFormat:
		if x.Format > ofp.PacketInFormatNXT2 {
			return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestEPerm, "packet-in format %d (0 standard, 1 nxt_packet_in, 2 nxt_packet_in2)", x.Format)
		}
		c.update(func(s *connSettings) { s.pinFormat = x.Format })
		return nil

	case *ofp.NXSetControllerID:
		c.update(func(s *connSettings) { s.controllerID = x.ID })
		return nil

	case *ofp.Experimenter:
		if x.Experimenter == ofp.ExperimenterNicira {
			return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadExpType, "Nicira message subtype %d is not supported", x.ExpType)
		}
		return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadExperimenter, "experimenter 0x%08x is not supported", x.Experimenter)
	}
	return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadType, "%s is not a message a controller sends", m.Type())
}

// actions10Bitmap is the OpenFlow 1.0 actions the switch announces:
// output, set_vlan_vid/pcp, strip_vlan, set_dl_src/dst, set_nw_src/dst,
// set_nw_tos, set_tp_src/dst, enqueue.
const actions10Bitmap = 1<<12 - 1

func backendErr(err error, def ofp.ErrorType, code uint16) error {
	if err == nil {
		return nil
	}
	return ofp.AsError(err, def, code)
}

func (c *conn) setConfig(ctx context.Context, x *ofp.SetConfig) error {
	a := c.a
	if x.Flags&^(ofp.ConfigFragMask|ofp.ConfigInvalidTTLToController) != 0 {
		return ofp.Errorf(ofp.ErrSwitchConfigFailed, ofp.SwitchConfigFailedBadFlags, "flags 0x%x: unknown bits (frag normal 0, drop 1, reasm 2; invalid_ttl_to_controller 4)", x.Flags)
	}
	frag := x.Flags & ofp.ConfigFragMask
	a.mu.Lock()
	cur := a.fragMode
	a.mu.Unlock()
	if frag != cur {
		if frag == 3 {
			return ofp.Errorf(ofp.ErrSwitchConfigFailed, ofp.SwitchConfigFailedBadFlags, "fragment handling 3 (nx-match) is not supported (normal 0, drop 1)")
		}
		if err := a.be.SetFragments(ctx, frag); err != nil {
			return backendErr(err, ofp.ErrSwitchConfigFailed, ofp.SwitchConfigFailedBadFlags)
		}
		a.mu.Lock()
		a.fragMode = frag
		a.mu.Unlock()
	}
	miss := x.MissSendLen
	c.update(func(s *connSettings) {
		s.missSendLen = miss
		s.invalidTTL = x.Flags&ofp.ConfigInvalidTTLToController != 0
	})
	c.missSendLen.Store(uint32(miss))
	a.refreshMissSendLen()
	return nil
}

// multipart answers a multipart request, reassembling OFPMPF_REQ_MORE
// sequences (only table features may be sent in parts).
func (c *conn) multipart(ctx context.Context, v uint8, xid uint32, x *ofp.MultipartRequest, raw []byte) error {
	a := c.a
	if c.mp != nil && c.mp.xid != xid {
		c.mp = nil // a new request abandons an unfinished one
	}
	if x.Flags&ofp.MultipartRequestMore != 0 || c.mp != nil {
		tf, ok := x.Body.(*ofp.TableFeaturesRequest)
		if !ok {
			c.mp = nil
			return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadMultipart, "%s request with OFPMPF_REQ_MORE (only table features may span messages)", x.Body.MultipartType())
		}
		if c.mp == nil {
			c.mp = &mpState{xid: xid}
		}
		c.mp.parts++
		c.mp.bytes += len(raw)
		if c.mp.parts > DefaultMultipartParts || c.mp.bytes > DefaultMultipartLimit {
			c.mp = nil
			return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestMultipartBufferOverflow, "multipart request over %d messages or %d bytes", DefaultMultipartParts, DefaultMultipartLimit)
		}
		c.mp.tables = append(c.mp.tables, tf.Tables...)
		if x.Flags&ofp.MultipartRequestMore != 0 {
			return nil
		}
		x = &ofp.MultipartRequest{Body: &ofp.TableFeaturesRequest{Tables: c.mp.tables}}
		c.mp = nil
	}
	var body ofp.MultipartBody
	switch r := x.Body.(type) {
	case *ofp.DescRequest:
		f, err := a.be.Features(ctx)
		if err != nil {
			return err
		}
		d := f.Desc
		body = &d
	case *ofp.PortDescRequest:
		ports, err := a.be.Ports(ctx)
		if err != nil {
			return err
		}
		body = &ofp.PortDescReply{Ports: ports}
	case *ofp.ExperimenterMultipart:
		if r.Experimenter == ofp.ExperimenterNicira {
			return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadExpType, "Nicira stats subtype %d is not supported", r.ExpType)
		}
		return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestBadExperimenter, "experimenter 0x%08x multipart is not supported", r.Experimenter)
	case *ofp.FlowStatsRequest, *ofp.AggregateStatsRequest:
		var fr *ofp.FlowStatsRequest
		if ag, ok := r.(*ofp.AggregateStatsRequest); ok {
			fr = &ag.FlowStatsRequest
		} else {
			fr = r.(*ofp.FlowStatsRequest)
		}
		m, err := fr.Match.Canonical()
		if err != nil {
			return err
		}
		fr.Match = m
		reply, err := a.be.Stats(ctx, x.Body)
		if err != nil {
			return backendErr(err, ofp.ErrBadRequest, ofp.BadRequestEPerm)
		}
		switch rb := reply.(type) {
		case *ofp.FlowStatsReply:
			rb.NXM = fr.NXM
		case *ofp.AggregateStats:
			rb.NXM = fr.NXM
		}
		body = reply
	default:
		reply, err := a.be.Stats(ctx, x.Body)
		if err != nil {
			return backendErr(err, ofp.ErrBadRequest, ofp.BadRequestEPerm)
		}
		body = reply
	}
	if body == nil || body.MultipartType() != x.Body.MultipartType() {
		c.log.Error("backend answered a multipart request with the wrong body", "request", x.Body.MultipartType().String())
		return ofp.Errorf(ofp.ErrBadRequest, ofp.BadRequestEPerm, "no reply for %s", x.Body.MultipartType())
	}
	msgs, err := ofp.MarshalMultipartReply(v, xid, body, 0)
	if err != nil {
		return err
	}
	for _, b := range msgs {
		c.enqueue(b)
	}
	return nil
}
