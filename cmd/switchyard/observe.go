package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/switchyard-net/switchyard/internal/capture"
	"github.com/switchyard-net/switchyard/internal/doctor"
	"github.com/switchyard-net/switchyard/internal/events"
	"github.com/switchyard-net/switchyard/internal/vswitchd"
	"github.com/switchyard-net/switchyard/internal/web"
)

// The daemon's observability flags.
var observeDaemonFlags = flagSpec{"web": true, "web-token": true, "metrics-listen": true}

func observeDaemonOptions(p *parsed, o *vswitchd.Options) error {
	o.Web = p.flags["web"]
	o.WebToken = p.flags["web-token"]
	if o.WebToken == "" {
		o.WebToken = os.Getenv("SWITCHYARD_WEB_TOKEN")
	}
	if p.set["web-token"] && o.Web == "" {
		return usagef("web-token: applies only with --web ADDR")
	}
	if o.Web != "" {
		if _, err := web.CheckAddr(o.Web, o.WebToken); err != nil {
			return err
		}
	}
	o.MetricsListen = p.flags["metrics-listen"]
	if o.MetricsListen != "" {
		if _, port, err := net.SplitHostPort(o.MetricsListen); err != nil || port == "" {
			return usagef("metrics-listen: %q; allowed: HOST:PORT like 127.0.0.1:9475", o.MetricsListen)
		}
	}
	return nil
}

var captureFlags = flagSpec{"w": true, "filter": true, "count": true, "duration": true, "direction": true, "snaplen": true, "quiet": false}

// cmdCapture runs `switchyard capture BRIDGE PORT [-w FILE | -] …`.
func cmdCapture(argv []string, out io.Writer) error {
	p, err := parse("capture", argv, captureFlags)
	if err != nil {
		return err
	}
	if err := p.want(2, 3, "BRIDGE PORT [-w FILE.pcapng | -] [--filter EXPR] [--count N] [--duration S] [--direction in|out|both]"); err != nil {
		return err
	}
	var o capture.Options
	o.Filter = p.flags["filter"]
	if o.Direction, err = capture.ParseDirection(p.flags["direction"]); err != nil {
		return err
	}
	if o.Count, err = p.intFlag("count", "a number of frames"); err != nil {
		return err
	}
	if v := p.flags["duration"]; v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs < 0 {
			return usagef("duration: %q; allowed: seconds like 10 or 0.5", v)
		}
		o.Duration = time.Duration(secs * float64(time.Second))
	}
	if o.SnapLen, err = p.intFlag("snaplen", "0-262144"); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if _, err := capture.CompileFilter(o.Filter); err != nil {
		return usagef("%v; allowed: a tcpdump expression (pcap-filter(7))", err)
	}
	dest := p.flags["w"]
	if len(p.args) == 3 {
		if dest != "" {
			return usagef("give the output once: -w FILE or a third argument, not both")
		}
		dest = p.args[2]
	}
	var sink io.Writer
	var file *os.File
	switch dest {
	case "":
	case "-":
		sink = out
	default:
		if file, err = os.Create(dest); err != nil {
			return usagef("w: %v", err)
		}
		defer file.Close()
		sink = file
	}
	c := client(p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs, err := c.Capture(ctx, p.args[0], p.args[1], o)
	if err != nil {
		return err
	}
	defer cs.Body.Close()
	// Ctrl-C asks the daemon to end the capture, which then writes its
	// statistics and closes the stream; a second one gives up.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		n := 0
		for range sig {
			if n++; n == 1 {
				if err := c.StopCapture(cs.ID); err != nil {
					cancel()
				}
			} else {
				cancel()
			}
		}
	}()
	var rerr error
	if sink != nil {
		rerr = copyBlocks(sink, cs.Body)
	} else {
		rerr = printFrames(out, cs.Body)
	}
	res, ok := cs.Result()
	if file != nil {
		if st, err := file.Stat(); err == nil && st.Mode().IsRegular() {
			if err := file.Sync(); err != nil && rerr == nil {
				rerr = err
			}
		}
	}
	if !p.set["quiet"] {
		if ok {
			fmt.Fprintf(os.Stderr, "%d frames captured (%d matched of %d seen on %s), %d dropped because the capture could not keep up; ended: %s\n",
				res.Written, res.Matched, res.Seen, p.args[1], res.Dropped, res.Reason)
		} else if rerr == nil {
			fmt.Fprintln(os.Stderr, "capture ended without statistics (the daemon went away?)")
		}
	}
	if rerr != nil && !errors.Is(rerr, context.Canceled) {
		return rerr
	}
	return nil
}

// copyBlocks copies a pcapng stream block by block, so what is written is
// always a readable file even when the stream is cut.
func copyBlocks(dst io.Writer, src io.Reader) error {
	var hdr [8]byte
	buf := make([]byte, 0, 1<<16)
	for {
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			return err
		}
		n := binary.LittleEndian.Uint32(hdr[4:])
		if n < 12 || n > 16<<20 || n%4 != 0 {
			return fmt.Errorf("capture stream: bad block length %d", n)
		}
		if cap(buf) < int(n) {
			buf = make([]byte, 0, n)
		}
		b := buf[:n]
		copy(b, hdr[:])
		if _, err := io.ReadFull(src, b[8:]); err != nil {
			return nil // cut in the middle of a block: keep what is whole
		}
		if _, err := dst.Write(b); err != nil {
			return err
		}
	}
}

// printFrames prints one line per captured frame, as tcpdump does without
// -w.
func printFrames(out io.Writer, src io.Reader) error {
	r, err := pcapgo.NewNgReader(src, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return fmt.Errorf("capture stream: %w", err)
	}
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			return fmt.Errorf("capture stream: %w", err)
		}
		dir := "   "
		if opts.Flags != nil {
			switch opts.Flags.Direction {
			case pcapgo.NgEpbFlagDirectionInbound:
				dir = "in "
			case pcapgo.NgEpbFlagDirectionOutbound:
				dir = "out"
			}
		}
		line := fmt.Sprintf("%s %s %s", ci.Timestamp.Format("15:04:05.000000"), dir, summarize(data, ci.Length))
		for _, c := range opts.Comments {
			line += " [" + c + "]"
		}
		if _, err := fmt.Fprintln(out, line); err != nil {
			return err
		}
	}
}

// summarize describes a frame in one line.
func summarize(data []byte, wire int) string {
	pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var parts []string
	if e, ok := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
		parts = append(parts, fmt.Sprintf("%s > %s", e.SrcMAC, e.DstMAC))
	}
	for _, l := range pkt.Layers() {
		switch v := l.(type) {
		case *layers.Dot1Q:
			parts = append(parts, fmt.Sprintf("vlan %d", v.VLANIdentifier))
		case *layers.ARP:
			op := "request"
			if v.Operation == 2 {
				op = "reply"
			}
			parts = append(parts, fmt.Sprintf("ARP %s %s tell %s", op, net.IP(v.DstProtAddress), net.IP(v.SourceProtAddress)))
		case *layers.IPv4:
			parts = append(parts, fmt.Sprintf("IP %s > %s", v.SrcIP, v.DstIP))
		case *layers.IPv6:
			parts = append(parts, fmt.Sprintf("IP6 %s > %s", v.SrcIP, v.DstIP))
		case *layers.TCP:
			flags := ""
			for _, f := range []struct {
				on bool
				c  string
			}{{v.SYN, "S"}, {v.FIN, "F"}, {v.RST, "R"}, {v.PSH, "P"}, {v.ACK, "."}} {
				if f.on {
					flags += f.c
				}
			}
			parts = append(parts, fmt.Sprintf("TCP %d > %d [%s] len %d", v.SrcPort, v.DstPort, flags, len(v.Payload)))
		case *layers.UDP:
			parts = append(parts, fmt.Sprintf("UDP %d > %d len %d", v.SrcPort, v.DstPort, len(v.Payload)))
		case *layers.ICMPv4:
			parts = append(parts, "ICMP "+v.TypeCode.String())
		case *layers.ICMPv6:
			parts = append(parts, "ICMP6 "+v.TypeCode.String())
		}
	}
	return fmt.Sprintf("%d bytes %s", wire, strings.Join(parts, ", "))
}

var eventsFlags = flagSpec{"follow": false, "since": true, "last": true, "kind": true}

// cmdEvents runs `switchyard events [--follow] [--json] …`.
func cmdEvents(argv []string, out io.Writer) error {
	p, err := parse("events", argv, eventsFlags)
	if err != nil {
		return err
	}
	if err := p.want(0, 0, "[--follow] [--json] [--since SEQ] [--last N] [--kind KIND]"); err != nil {
		return err
	}
	q := events.Query{Kind: p.flags["kind"], Last: 100}
	if p.set["follow"] {
		q.Last = 10
	}
	if p.set["last"] {
		if q.Last, err = p.intFlag("last", "0 (all kept) or a number"); err != nil {
			return err
		}
		if q.Last < 0 {
			return usagef("last: %d; allowed: 0 (all kept) or a positive number", q.Last)
		}
	}
	if v := p.flags["since"]; v != "" {
		if q.Since, err = strconv.ParseUint(v, 10, 64); err != nil {
			return usagef("since: %q; allowed: an event sequence number", v)
		}
	}
	c := client(p)
	line := func(e events.Event) {
		if p.set["json"] {
			_ = printJSONLine(out, e)
			return
		}
		fmt.Fprintf(out, "%6d %s\n", e.Seq, e.String())
	}
	if !p.set["follow"] {
		l, err := c.Events(q)
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, l)
		}
		for _, e := range l {
			line(e)
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = c.FollowEvents(ctx, q, line)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func printJSONLine(out io.Writer, v any) error {
	b, err := jsonMarshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

var doctorFlags = flagSpec{"probe-timeout": true, "no-probe": false}

// cmdDoctor runs `switchyard doctor [--json]`: exit 0 when healthy, 1
// with findings.
func cmdDoctor(argv []string, out io.Writer) error {
	p, err := parse("doctor", argv, doctorFlags)
	if err != nil {
		return err
	}
	if err := p.want(0, 0, "[--json] [--probe-timeout S] [--no-probe]"); err != nil {
		return err
	}
	var o doctor.Options
	if v := p.flags["probe-timeout"]; v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs <= 0 || secs > 30 {
			return usagef("probe-timeout: %q; allowed: 0.01-30 seconds", v)
		}
		o.ProbeTimeout = time.Duration(secs * float64(time.Second))
	}
	o.NoProbe = p.set["no-probe"]
	r, err := client(p).Doctor(o)
	if err != nil {
		return err
	}
	if p.set["json"] {
		if err := printJSON(out, r); err != nil {
			return err
		}
	} else {
		printDoctor(out, r)
	}
	if !r.Healthy {
		return &exitError{code: 1}
	}
	return nil
}

func printDoctor(out io.Writer, r *doctor.Report) {
	var nerr, nwarn int
	for _, f := range r.Findings {
		switch f.Severity {
		case doctor.Error:
			nerr++
		case doctor.Warning:
			nwarn++
		}
	}
	if r.Healthy {
		fmt.Fprintln(out, "switchyard doctor: healthy")
	} else {
		fmt.Fprintf(out, "switchyard doctor: %d problems (%d errors, %d warnings)\n", nerr+nwarn, nerr, nwarn)
	}
	fmt.Fprintln(out)
	var rows [][]string
	for _, c := range r.Checks {
		mark := "ok"
		if !c.OK {
			mark = "FAIL"
		}
		rows = append(rows, []string{mark, c.Title, c.Summary})
	}
	table(out, "\tCHECK\tRESULT", rows)
	for _, f := range r.Findings {
		where := f.Bridge
		if f.Port != "" {
			where += "/" + f.Port
		}
		fmt.Fprintf(out, "\n%s [%s] %s\n", strings.ToUpper(f.Severity), f.Check, strings.Trim(where, "/"))
		fmt.Fprintf(out, "  %s\n", f.Problem)
		if f.Explain != "" {
			fmt.Fprintf(out, "  why: %s\n", f.Explain)
		}
		if f.Fix != "" {
			for i, l := range strings.Split(f.Fix, "\n") {
				if i == 0 {
					fmt.Fprintf(out, "  fix: %s\n", l)
				} else {
					fmt.Fprintf(out, "       %s\n", l)
				}
			}
		}
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
