// Package openflow is a bridge's OpenFlow agent: the listeners (punix:,
// ptcp:), the controller connections (tcp:, unix:) with reconnect, version
// negotiation, echo keepalive, roles, asynchronous configuration, barriers
// and the packet-in path. It speaks to the switch only through [Backend],
// in terms of the wire types of package ofp, so that it knows nothing of
// the engine's flow tables.
package openflow

import (
	"context"
	"net/netip"

	"github.com/switchyard-net/switchyard/internal/openflow/ofp"
)

// Backend is the switch as one bridge's OpenFlow agent sees it. The agent
// calls it from one goroutine per connection, so its methods must be safe
// for concurrent use; calls from one connection come in the order of that
// connection's messages. Every request has already been decoded and checked
// by package ofp; what the methods receive is described on each.
//
// An error an implementation returns is sent to the controller as an
// OpenFlow ERROR: an *ofp.Error gives the type and code (ofp.Errorf), any
// other error becomes the message's generic failure (OFPFMFC_UNKNOWN for a
// flow-mod, OFPMMFC_UNKNOWN for a meter-mod, OFPBRC_EPERM otherwise).
type Backend interface {
	// Features describes the switch (FEATURES_REPLY and OFPMP_DESC).
	Features(ctx context.Context) (Features, error)

	// Ports lists the bridge's ports with their OpenFlow numbers
	// (OFPMP_PORT_DESC; the ports of an OpenFlow 1.0 FEATURES_REPLY).
	// The bridge's own port is ofp.PortLocal.
	Ports(ctx context.Context) ([]ofp.Port, error)

	// FlowMod adds, modifies or deletes flows. fm has passed
	// ofp.CheckFlowMod: its match is canonical, its actions normalized,
	// its command, flags and instructions valid on their own. Everything
	// that needs the tables is the backend's: strict and non-strict
	// matching, priorities, overlap (OFPFF_CHECK_OVERLAP →
	// OFPFMFC_OVERLAP), out_port/out_group filters, cookies
	// (fm.CookieFilter, fm.NewCookie), table ids that do not exist
	// (OFPFMFC_BAD_TABLE_ID), groups and meters that do not exist
	// (OFPBAC_BAD_OUT_GROUP, OFPMMFC_UNKNOWN_METER), ports
	// (OFPBAC_BAD_OUT_PORT), table full (OFPFMFC_TABLE_FULL), counters
	// flags and flow-removed messages for deleted flows
	// (Agent.EmitFlowRemoved with ofp.RemovedDelete when OFPFF_SEND_FLOW_REM
	// is set). fm.BufferID is always ofp.NoBuffer when it gets here.
	FlowMod(ctx context.Context, fm *ofp.FlowMod) error

	// GroupMod adds, modifies or deletes groups (ofp.CheckGroupMod has
	// run). Existence (OFPGMFC_GROUP_EXISTS, OFPGMFC_UNKNOWN_GROUP),
	// chaining and loops across groups (OFPGMFC_LOOP,
	// OFPGMFC_CHAINED_GROUP), watch ports are the backend's. Deleting a
	// group deletes the flows that output to it
	// (EmitFlowRemoved with ofp.RemovedGroupDelete).
	GroupMod(ctx context.Context, gm *ofp.GroupMod) error

	// MeterMod adds, modifies or deletes meters (ofp.CheckMeterMod has
	// run). A backend without meters returns OFPMMFC_OUT_OF_METERS or
	// the OFPMMFC_BAD_BAND of the band it lacks.
	MeterMod(ctx context.Context, mm *ofp.MeterMod) error

	// PortMod changes a port's config bits under pm.Mask (OFPPC_PORT_DOWN,
	// NO_RECV, NO_FWD, NO_PACKET_IN; OpenFlow 1.0's NO_FLOOD …). Unknown
	// port: OFPPMFC_BAD_PORT; hardware address mismatch:
	// OFPPMFC_BAD_HW_ADDR. A change is announced with EmitPortStatus.
	PortMod(ctx context.Context, pm *ofp.PortMod) error

	// TableMod sets a table's config (OpenFlow 1.3 defines no bits;
	// OFPTMFC_BAD_TABLE for a table that does not exist).
	TableMod(ctx context.Context, tm *ofp.TableMod) error

	// PacketOut runs actions on a packet (ofp.CheckPacketOut has run: the
	// data is there, the actions are normalized and consistent with the
	// packet). po.InPort may be a port, ofp.PortLocal, ofp.PortController
	// or ofp.PortAny; output:TABLE runs the pipeline from table 0.
	PacketOut(ctx context.Context, po *ofp.PacketOut) error

	// SetFragments sets the switch-wide IP fragment handling
	// (ofp.ConfigFragNormal, ConfigFragDrop, ConfigFragReasm); unsupported
	// modes return OFPSCFC_BAD_FLAGS.
	SetFragments(ctx context.Context, mode uint16) error

	// Stats answers a multipart request. req is one of *ofp.FlowStatsRequest,
	// *ofp.AggregateStatsRequest, *ofp.TableStatsRequest,
	// *ofp.TableFeaturesRequest (with Tables: a request to set them),
	// *ofp.PortStatsRequest, *ofp.QueueStatsRequest, *ofp.GroupStatsRequest,
	// *ofp.GroupDescRequest, *ofp.GroupFeaturesRequest,
	// *ofp.MeterStatsRequest, *ofp.MeterConfigRequest or
	// *ofp.MeterFeaturesRequest (their matches canonical); the reply is the
	// matching reply body (*ofp.FlowStatsReply, *ofp.AggregateStats, …).
	// The agent encodes it for the connection's version and splits long
	// replies. DESC and PORT_DESC never come here (Features, Ports).
	Stats(ctx context.Context, req ofp.MultipartBody) (ofp.MultipartBody, error)

	// Queues lists a port's queues (QUEUE_GET_CONFIG; ofp.PortAny: all).
	Queues(ctx context.Context, port uint32) ([]ofp.Queue, error)

	// Barrier returns once the effect of every call that returned before
	// it (from any connection) is visible in the datapath: a frame that
	// arrives after Barrier returns meets the new flows, groups and
	// meters, including through any cache of decisions. The agent sends
	// BARRIER_REPLY only after Barrier returns.
	Barrier(ctx context.Context) error
}

// Features describes the switch.
type Features struct {
	DatapathID uint64
	// NTables is the number of flow tables (ofp tables 0…NTables-1).
	NTables uint8
	// Capabilities are ofp.Cap* bits; zero means flow, table, port,
	// group and queue statistics.
	Capabilities uint32
	// Desc is the OFPMP_DESC reply (manufacturer, hardware, software,
	// serial number, datapath description).
	Desc ofp.DescStats
}

// UseMissSendLen is PacketIn.MaxLen for packets sent because of a table
// miss in OpenFlow 1.0 terms (or an invalid TTL): each connection sends as
// many bytes as its own miss_send_len says.
const UseMissSendLen = -1

// PacketIn is a packet the datapath sends to the controllers. It is flat
// (no pointers but Frame and Userdata) so that EmitPacketIn can copy it
// into the agent's queue without allocating.
type PacketIn struct {
	// InPort is the port the packet came in on (ofp.PortLocal,
	// ofp.PortController for packet-outs …).
	InPort uint32
	// Reason is ofp.ReasonNoMatch (a table-miss flow), ReasonAction
	// (output:CONTROLLER), ReasonInvalidTTL, or the 1.4 reasons (sent as
	// ReasonAction to 1.0 and 1.3 controllers).
	Reason uint8
	// TableID and Cookie are those of the flow that sent the packet
	// (Cookie ^0 when none, e.g. a packet-out).
	TableID uint8
	Cookie  uint64
	// Metadata of the packet reported in the match: tunnel id and
	// addresses when it came from a tunnel, the metadata field and
	// registers when nonzero.
	TunnelID  uint64
	HasTunnel bool
	TunSrc    netip.Addr
	TunDst    netip.Addr
	Metadata  uint64
	Regs      [16]uint32
	// MaxLen is how many bytes of the frame the controller asked for:
	// the max_len of the output action (ofp.ControllerNoBuffer: all), or
	// UseMissSendLen.
	MaxLen int
	// ControllerID restricts the packet to connections with that
	// Nicira controller id (NXAST_CONTROLLER id=N); 0 is the default id
	// every connection has.
	ControllerID uint16
	// Userdata is NXAST_CONTROLLER2's userdata (sent in NXT_PACKET_IN2).
	Userdata []byte
	// Frame is the whole packet. EmitPacketIn copies what is needed of
	// it before it returns.
	Frame []byte
}
