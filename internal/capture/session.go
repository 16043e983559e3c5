// Package capture captures the frames of any Switchyard port — TAP,
// system, internal, patch and tunnel ports — to pcapng, with a tcpdump
// filter, without a mirror port and at no cost when no capture runs.
//
// A Session is a datapath.Tap: the engine hands it each batch a port
// receives (before any rewrite) and sends (as it leaves). In the
// forwarding goroutine the session filters each frame and copies the ones
// that match into a free slot of a fixed pool, never waiting: when no slot
// is free (the reader does not keep up) the copy is dropped and counted.
// A goroutine (Run) writes the slots out as pcapng blocks: each packet with
// its direction in the EPB flags, and for tunnel ports the VNI and the
// remote VTEP in the packet's comment.
package capture

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/errs"
	"github.com/switchyard-net/switchyard/internal/packet"
)

// Defaults and bounds.
const (
	DefaultSnapLen = 262144
	// SmallSlots frames of up to SmallSlotSize bytes, and BigSlots larger
	// ones (jumbo frames, 64 KiB super-frames), can wait to be written.
	SmallSlots    = 1024
	SmallSlotSize = 2048
	BigSlots      = 64
	BigSlotSize   = datapath.MaxFrame
	// MaxCount and MaxDuration bound a capture's limits.
	MaxCount    = 100_000_000
	MaxDuration = 7 * 24 * time.Hour
)

// Options are a capture's settings.
type Options struct {
	// Filter is a tcpdump expression ("" captures everything).
	Filter string
	// Direction selects received frames, sent frames, or both.
	Direction Direction
	// Count stops the capture after this many frames (0: no limit).
	Count int
	// Duration stops the capture after this long (0: no limit).
	Duration time.Duration
	// SnapLen keeps at most this many bytes of each frame (0: 262144).
	SnapLen int
}

// Validate checks the options and names the field at fault.
func (o *Options) Validate() error {
	if o.Count < 0 || o.Count > MaxCount {
		return errs.Invalidf("count", fmt.Sprintf("0-%d (0 = no limit)", MaxCount), "%d", o.Count)
	}
	if o.Duration < 0 || o.Duration > MaxDuration {
		return errs.Invalidf("duration", "0-604800 seconds (0 = no limit)", "%v", o.Duration)
	}
	if o.SnapLen < 0 || o.SnapLen > DefaultSnapLen {
		return errs.Invalidf("snaplen", "0-262144 (0 = 262144)", "%d", o.SnapLen)
	}
	if o.Direction > Out {
		return errs.Invalidf("direction", "in, out, both", "%d", o.Direction)
	}
	return nil
}

// PortInfo describes the captured port, for the pcapng interface block and
// the packets' comments.
type PortInfo struct {
	Bridge string
	Port   string
	Type   string // tap, system, internal, patch, vxlan, geneve, gre
	// Tunnel says frames carry a VNI and a remote VTEP.
	Tunnel bool
}

// Result says how a capture went.
type Result struct {
	ID string `json:"id"`
	// Seen counts the frames of the captured direction(s) the port passed
	// while the capture ran; Matched those the filter selected; Written
	// those written out; Dropped the matched frames lost because the reader
	// did not keep up (no free slot).
	Seen    uint64 `json:"seen"`
	Matched uint64 `json:"matched"`
	Written uint64 `json:"written"`
	Dropped uint64 `json:"dropped"`
	// Reason says why the capture ended: count, duration, stopped, closed
	// (the reader went away), port-gone, error.
	Reason string `json:"reason"`
}

// Session is one running capture of one port.
type Session struct {
	id     string
	info   PortInfo
	opt    Options
	filter *Filter
	snap   int

	small, big chan *slot // free slots
	full       chan *slot // filled slots, in the order they were filled

	seen, matched, dropped atomic.Uint64
	stopped                atomic.Bool
	stop                   chan struct{}
	stopOnce               sync.Once
	reason                 atomic.Pointer[string]
	started                time.Time
}

type slot struct {
	buf    []byte
	n      int // bytes kept
	wire   int // the frame's length
	ts     int64
	dir    Direction
	tunnel bool
	vni    uint32
	remote datapath.Endpoint
	offl   packet.GSO
	small  bool
}

// NewSession compiles the filter and makes a session for the port; attach
// it with Attach, then Run it.
func NewSession(info PortInfo, o Options) (*Session, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	f, err := CompileFilter(o.Filter)
	if err != nil {
		var fe *FilterError
		if ok := asFilterError(err, &fe); ok {
			return nil, errs.Invalidf("filter", "a tcpdump expression (pcap-filter(7)), like 'tcp port 80 and host 203.0.113.1'", "%s", fe.Msg+fmt.Sprintf(" at character %d", fe.Pos))
		}
		return nil, err
	}
	snap := o.SnapLen
	if snap == 0 {
		snap = DefaultSnapLen
	}
	s := &Session{id: newID(), info: info, opt: o, filter: f, snap: snap, stop: make(chan struct{}), started: time.Now()}
	nBig := BigSlots
	if snap <= SmallSlotSize {
		nBig = 0
	}
	s.small = make(chan *slot, SmallSlots)
	s.big = make(chan *slot, max(nBig, 1))
	s.full = make(chan *slot, SmallSlots+nBig)
	for i := 0; i < SmallSlots; i++ {
		s.small <- &slot{buf: make([]byte, min(SmallSlotSize, snap)), small: true}
	}
	for i := 0; i < nBig; i++ {
		s.big <- &slot{buf: make([]byte, min(BigSlotSize, snap))}
	}
	return s, nil
}

func asFilterError(err error, fe **FilterError) bool {
	e, ok := err.(*FilterError)
	if ok {
		*fe = e
	}
	return ok
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ID returns the session's identifier.
func (s *Session) ID() string { return s.id }

// Info returns the captured port.
func (s *Session) Info() PortInfo { return s.info }

// Options returns the session's options.
func (s *Session) Options() Options { return s.opt }

// Started returns when the session was made.
func (s *Session) Started() time.Time { return s.started }

// Stats returns the session's counters so far.
func (s *Session) Stats() Result {
	return Result{ID: s.id, Seen: s.seen.Load(), Matched: s.matched.Load(), Dropped: s.dropped.Load()}
}

// take returns a free slot for a frame of n bytes, or nil.
func (s *Session) take(n int) *slot {
	if n <= SmallSlotSize || s.snap <= SmallSlotSize {
		select {
		case sl := <-s.small:
			return sl
		default:
		}
		if s.snap <= SmallSlotSize {
			return nil
		}
	}
	select {
	case sl := <-s.big:
		return sl
	default:
		return nil
	}
}

func (s *Session) put(sl *slot) {
	if sl.small {
		s.small <- sl
	} else {
		s.big <- sl
	}
}

// record copies one frame into a slot (false: dropped).
func (s *Session) record(d []byte, ts int64, dir Direction, p *datapath.Packet, vni uint32, remote datapath.Endpoint, tunnel bool) bool {
	sl := s.take(len(d))
	if sl == nil {
		return false
	}
	sl.n = copy(sl.buf, d)
	sl.wire = len(d)
	sl.ts = ts
	sl.dir = dir
	sl.tunnel, sl.vni, sl.remote = tunnel, vni, remote
	sl.offl = p.Offload
	select {
	case s.full <- sl:
	default: // cannot happen: full holds every slot
		s.put(sl)
		return false
	}
	return true
}

// Received implements datapath.Tap.
func (s *Session) Received(_ *datapath.Port, pkts []*datapath.Packet) {
	if !s.opt.Direction.wants(In) || s.stopped.Load() {
		return
	}
	var ts int64
	var matched, dropped uint64
	c := ctxPool.Get().(*evalCtx)
	defer putCtx(c)
	for _, p := range pkts {
		d := p.Data()
		if !s.filter.match(c, d, len(d), In) {
			continue
		}
		matched++
		if ts == 0 {
			ts = time.Now().UnixNano()
		}
		if !s.record(d, ts, In, p, p.Tunnel.VNI, p.Tunnel.Remote, p.Tunnel.Valid) {
			dropped++
		}
	}
	s.count(uint64(len(pkts)), matched, dropped)
}

// Sent implements datapath.Tap.
func (s *Session) Sent(_ *datapath.Port, outs []datapath.Out) {
	if !s.opt.Direction.wants(Out) || s.stopped.Load() {
		return
	}
	var ts int64
	var matched, dropped uint64
	c := ctxPool.Get().(*evalCtx)
	defer putCtx(c)
	for i := range outs {
		o := &outs[i]
		d := o.Pkt.Data()
		if !s.filter.match(c, d, len(d), Out) {
			continue
		}
		matched++
		if ts == 0 {
			ts = time.Now().UnixNano()
		}
		if !s.record(d, ts, Out, o.Pkt, o.VNI, o.Remote, s.info.Tunnel) {
			dropped++
		}
	}
	s.count(uint64(len(outs)), matched, dropped)
}

func putCtx(c *evalCtx) {
	c.d = nil
	ctxPool.Put(c)
}

func (s *Session) count(seen, matched, dropped uint64) {
	s.seen.Add(seen)
	if matched != 0 {
		s.matched.Add(matched)
	}
	if dropped != 0 {
		s.dropped.Add(dropped)
	}
}

// Stop ends the capture with reason (the first reason given wins).
func (s *Session) Stop(reason string) {
	s.stopOnce.Do(func() {
		s.reason.Store(&reason)
		close(s.stop)
	})
}

// Done is closed when the session is told to stop.
func (s *Session) Done() <-chan struct{} { return s.stop }

// Version is written into the pcapng section header.
var Version = "dev"

// Run writes the capture as pcapng to w until the count or the duration is
// reached, Stop is called, ctx ends (the reader went away) or a write
// fails. flush (may be nil) is called after the writer's buffer is flushed,
// about ten times a second while packets arrive, so a reader sees them
// live. Run does not detach the session from its port: the caller does
// (before or after).
func (s *Session) Run(ctx context.Context, w io.Writer, flush func()) (Result, error) {
	intf := pcapgo.NgInterface{
		Name:                s.info.Port,
		Description:         fmt.Sprintf("Switchyard %s port %s on bridge %s (direction %s)", s.info.Type, s.info.Port, s.info.Bridge, s.opt.Direction),
		Filter:              s.opt.Filter,
		OS:                  runtime.GOOS,
		LinkType:            layers.LinkTypeEthernet,
		SnapLength:          uint32(s.snap),
		TimestampResolution: 9,
	}
	info := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: "switchyard " + Version}}
	ng, err := pcapgo.NewNgWriterInterface(w, intf, info)
	if err != nil {
		s.Stop("error")
		return s.result(0), err
	}
	var timer <-chan time.Time
	if s.opt.Duration > 0 {
		t := time.NewTimer(s.opt.Duration)
		defer t.Stop()
		timer = t.C
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var written, lastDrops uint64
	dirty := false
	doFlush := func() error {
		if err := ng.Flush(); err != nil {
			return err
		}
		if flush != nil {
			flush()
		}
		dirty = false
		return nil
	}
	fail := func(err error) (Result, error) {
		s.Stop("closed")
		return s.result(written), err
	}
	if err := doFlush(); err != nil { // the headers, so a reader starts at once
		return fail(err)
	}
loop:
	for {
		select {
		case sl := <-s.full:
			if s.opt.Count > 0 && written >= uint64(s.opt.Count) {
				s.put(sl)
				continue
			}
			d := s.dropped.Load()
			if err := s.write(ng, sl, d-lastDrops); err != nil {
				s.put(sl)
				return fail(err)
			}
			lastDrops = d
			s.put(sl)
			written++
			dirty = true
			if s.opt.Count > 0 && written >= uint64(s.opt.Count) {
				s.Stop("count")
				break loop
			}
		case <-tick.C:
			if dirty {
				if err := doFlush(); err != nil {
					return fail(err)
				}
			}
		case <-timer:
			s.Stop("duration")
			break loop
		case <-ctx.Done():
			s.Stop("closed")
			break loop
		case <-s.stop:
			break loop
		}
	}
	s.stopped.Store(true)
	// Frames already copied are written (up to the count), unless the
	// reader went away.
	if r := s.reason.Load(); r == nil || *r != "closed" {
		for more := true; more; {
			select {
			case sl := <-s.full:
				if s.opt.Count == 0 || written < uint64(s.opt.Count) {
					if err := s.write(ng, sl, 0); err != nil {
						s.put(sl)
						return fail(err)
					}
					written++
				}
				s.put(sl)
			default:
				more = false
			}
		}
	}
	res := s.result(written)
	stats := pcapgo.NgInterfaceStatistics{LastUpdate: time.Now(), StartTime: s.started, EndTime: time.Now(),
		PacketsReceived: res.Seen, PacketsDropped: res.Dropped,
		Comment: fmt.Sprintf("%d frames seen, %d matched the filter, %d written, %d dropped (the reader did not keep up); stopped: %s",
			res.Seen, res.Matched, res.Written, res.Dropped, res.Reason)}
	if err := ng.WriteInterfaceStats(0, stats); err != nil {
		return res, err
	}
	if err := doFlush(); err != nil {
		return res, err
	}
	return res, nil
}

func (s *Session) result(written uint64) Result {
	r := s.Stats()
	r.Written = written
	if p := s.reason.Load(); p != nil {
		r.Reason = *p
	}
	return r
}

var (
	flagsIn  = pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionInbound}
	flagsOut = pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionOutbound}
)

// write writes one slot as an enhanced packet block.
func (s *Session) write(ng *pcapgo.NgWriter, sl *slot, drops uint64) error {
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, sl.ts), CaptureLength: sl.n, Length: sl.wire}
	opts := pcapgo.NgPacketOptions{Flags: &flagsIn}
	if sl.dir == Out {
		opts.Flags = &flagsOut
	}
	if sl.tunnel {
		c := fmt.Sprintf("vni %d", sl.vni)
		switch {
		case sl.remote != datapath.NoEndpoint:
			if sl.dir == In {
				c += ", from remote VTEP " + sl.remote.String()
			} else {
				c += ", to remote VTEP " + sl.remote.String()
			}
		case sl.dir == Out:
			c += ", flooded to every remote VTEP (or the group)"
		}
		opts.Comments = append(opts.Comments, c)
	}
	if g := sl.offl; g.Type != 0 || g.NeedsCsum {
		opts.Comments = append(opts.Comments, offloadComment(g))
	}
	if drops > 0 {
		opts.DropCount = &drops
	}
	return ng.WritePacketWithOptions(ci, sl.buf[:sl.n], opts)
}

// offloadComment explains a frame's offload metadata: a super-frame and a
// checksum still to be filled in look wrong to a dissector otherwise.
func offloadComment(g packet.GSO) string {
	c := ""
	if g.IsSuper() {
		names := map[uint8]string{packet.GSOTypeTCPv4: "TCPv4", packet.GSOTypeTCPv6: "TCPv6", packet.GSOTypeUDPL4: "UDP"}
		c = fmt.Sprintf("%s super-frame (segments of %d bytes are cut from it later)", names[g.Type&^packet.GSOTypeECN], g.Size)
	}
	if g.NeedsCsum {
		if c != "" {
			c += "; "
		}
		c += fmt.Sprintf("L4 checksum partial (the pseudo-header sum; finished at offset %d+%d when the frame leaves)", g.CsumStart, g.CsumOffset)
	}
	return c
}
