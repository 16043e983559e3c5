// Package ofp is Switchyard's OpenFlow wire codec: OpenFlow 1.3 in full,
// OpenFlow 1.0 as plain `ovs-ofctl` speaks it, and the Nicira (Open vSwitch)
// extensions that ovs-ofctl, os-ken and ovs-testcontroller use.
//
// The codec turns bytes into typed messages ([Unmarshal]) and typed messages
// into bytes ([Marshal]). It knows the wire and nothing of flow-table
// semantics: strict matching, overlap checks and out_port filters belong to
// whoever implements the flow tables.
//
// One representation serves every version. A FlowMod decoded from an
// OpenFlow 1.0 ofp_match, from a Nicira NXM match or from an OpenFlow 1.3 OXM
// match carries a [Match]: an ordered list of OXM entries (class, field,
// has-mask, value, mask) exactly as they were on the wire. [Match.Canonical]
// rewrites it into one spelling per field (OpenFlow-basic OXM where such a
// field exists, NXM class 1 otherwise), which is what a flow table should
// store and compare. Actions and instructions are typed values; the
// version-specific spellings (OpenFlow 1.0 strip_vlan, OpenFlow 1.3
// pop_vlan) decode to the same type where their meaning is the same.
//
// Decoders never panic, never trust a length field for an allocation larger
// than the bytes actually present, and fail with an [*Error] that carries the
// OpenFlow error type and code the peer should receive ([ErrorFor]).
package ofp
