package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const iperfPort = "5201"

// waitPing polls `ping -c 1 -W 1` from client to addr until one answer
// comes back or the deadline passes.
func waitPing(ctx context.Context, client, addr string, d time.Duration) error {
	return poll(ctx, d, fmt.Sprintf("ping %s from %s", addr, client), func() error {
		_, err := run(ctx, inNS(client, "ping", "-c", "1", "-W", "1", "-q", addr)...)
		return err
	})
}

// iperfServer starts `iperf3 -s -1` bound to addr in ns and waits until it
// listens. It serves one test and exits; stop kills it by PID if not.
func iperfServer(ctx context.Context, ns, addr string) (*proc, error) {
	p, err := startProc("iperf3 server in "+ns, nil, inNS(ns, "iperf3", "-s", "-1", "-B", addr, "-p", iperfPort)...)
	if err != nil {
		return nil, err
	}
	err = poll(ctx, 10*time.Second, "iperf3 server listens in "+ns, func() error {
		if p.exited() {
			return permanent(fmt.Errorf("iperf3 server exited (%v): %q", p.exitErr(), strings.TrimSpace(p.output())))
		}
		out, err := run(ctx, inNS(ns, "ss", "-Hltn", "sport = :"+iperfPort)...)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "LISTEN") {
			return errors.New("not listening yet")
		}
		return nil
	})
	if err != nil {
		_ = p.stop(2 * time.Second)
		return nil, err
	}
	return p, nil
}

// iperfJSON is the part of `iperf3 -J` output the harness reads.
type iperfJSON struct {
	Error string `json:"error"`
	End   struct {
		SumSent struct {
			Seconds       float64 `json:"seconds"`
			Bytes         float64 `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
			Retransmits   *int    `json:"retransmits"`
			Packets       int64   `json:"packets"`
		} `json:"sum_sent"`
		SumReceived struct {
			Seconds       float64 `json:"seconds"`
			Bytes         float64 `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
			Packets       int64   `json:"packets"`
			LostPackets   int64   `json:"lost_packets"`
			LostPercent   float64 `json:"lost_percent"`
		} `json:"sum_received"`
		Sum struct {
			Seconds     float64 `json:"seconds"`
			Packets     int64   `json:"packets"`
			LostPackets int64   `json:"lost_packets"`
			LostPercent float64 `json:"lost_percent"`
		} `json:"sum"`
		CPU struct {
			HostTotal   float64 `json:"host_total"`
			RemoteTotal float64 `json:"remote_total"`
		} `json:"cpu_utilization_percent"`
	} `json:"end"`
}

// iperfRun runs one iperf3 client test (server started first, waited for,
// and reaped) and returns the parsed JSON and the raw output.
func iperfRun(ctx context.Context, client, server, addr string, secs int, extra ...string) (*iperfJSON, string, error) {
	srv, err := iperfServer(ctx, server, addr)
	if err != nil {
		return nil, "", err
	}
	defer func() {
		// The server exits by itself after one test; if the test was
		// cut short, stop it by PID.
		grace := 5 * time.Second
		if ctx.Err() != nil {
			grace = 0
		}
		if !srv.wait(grace) {
			_ = srv.stop(2 * time.Second)
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, time.Duration(secs+30)*time.Second)
	defer cancel()
	args := append([]string{"iperf3", "-c", addr, "-p", iperfPort, "-t", strconv.Itoa(secs), "-J"}, extra...)
	cmd := exec.CommandContext(cctx, "ip", append([]string{"netns", "exec", client}, args...)...)
	cmd.WaitDelay = 2 * time.Second
	out, runErr := cmd.Output()
	var j iperfJSON
	if err := json.Unmarshal(out, &j); err != nil {
		if runErr != nil {
			return nil, string(out), fmt.Errorf("%s: %w (%s)", strings.Join(args, " "), runErr, strings.TrimSpace(string(out)))
		}
		return nil, string(out), fmt.Errorf("%s: parse JSON: %w", strings.Join(args, " "), err)
	}
	if j.Error != "" {
		return &j, string(out), fmt.Errorf("%s: iperf3: %s", strings.Join(args, " "), j.Error)
	}
	if runErr != nil {
		return &j, string(out), fmt.Errorf("%s: %w", strings.Join(args, " "), runErr)
	}
	return &j, string(out), nil
}

// tcpResult is one iperf3 TCP run.
type tcpResult struct {
	Gbps        float64 `json:"gbps_received"`
	Retransmits int     `json:"retransmits"`
	CPUSender   float64 `json:"cpu_sender_pct"`
	CPUReceiver float64 `json:"cpu_receiver_pct"`
}

func tcpTest(ctx context.Context, client, server, addr string, secs, streams int) (tcpResult, string, error) {
	j, raw, err := iperfRun(ctx, client, server, addr, secs, "-P", strconv.Itoa(streams))
	if err != nil {
		return tcpResult{}, raw, err
	}
	r := tcpResult{Gbps: j.End.SumReceived.BitsPerSecond / 1e9, CPUSender: j.End.CPU.HostTotal, CPUReceiver: j.End.CPU.RemoteTotal}
	if j.End.SumSent.Retransmits != nil {
		r.Retransmits = *j.End.SumSent.Retransmits
	}
	if r.Gbps == 0 {
		return r, raw, fmt.Errorf("iperf3 TCP received 0 bytes")
	}
	return r, raw, nil
}

// udpResult is one iperf3 UDP run with small datagrams.
type udpResult struct {
	PPS      float64 `json:"pps_received"`
	Sent     int64   `json:"packets_sent"`
	Lost     int64   `json:"packets_lost"`
	LossPct  float64 `json:"loss_pct"`
	Seconds  float64 `json:"seconds"`
	SentPPS  float64 `json:"pps_sent"`
	Received int64   `json:"packets_received"`
}

func udpTest(ctx context.Context, client, server, addr string, secs, payload int, rate string) (udpResult, string, error) {
	j, raw, err := iperfRun(ctx, client, server, addr, secs, "-u", "-l", strconv.Itoa(payload), "-b", rate)
	if err != nil {
		return udpResult{}, raw, err
	}
	rcv := j.End.SumReceived
	if rcv.Packets == 0 && j.End.Sum.Packets > 0 { // older iperf3: only "sum"
		rcv.Packets, rcv.LostPackets, rcv.LostPercent, rcv.Seconds = j.End.Sum.Packets, j.End.Sum.LostPackets, j.End.Sum.LostPercent, j.End.Sum.Seconds
	}
	r := udpResult{Sent: rcv.Packets, Lost: rcv.LostPackets, LossPct: rcv.LostPercent, Seconds: rcv.Seconds}
	r.Received = r.Sent - r.Lost
	if r.Seconds > 0 {
		r.PPS = float64(r.Received) / r.Seconds
		r.SentPPS = float64(r.Sent) / r.Seconds
	}
	if r.Received <= 0 {
		return r, raw, fmt.Errorf("iperf3 UDP: no datagram received (%d sent)", r.Sent)
	}
	return r, raw, nil
}

// pingResult is one `ping -c N -i 0.01` run.
type pingResult struct {
	AvgUs   float64 `json:"avg_us"`
	MinUs   float64 `json:"min_us"`
	MaxUs   float64 `json:"max_us"`
	MdevUs  float64 `json:"mdev_us"`
	LossPct float64 `json:"loss_pct"`
}

var (
	rttRe  = regexp.MustCompile(`= ([0-9.]+)/([0-9.]+)/([0-9.]+)/([0-9.]+) ms`)
	lossRe = regexp.MustCompile(`([0-9.]+)% packet loss`)
)

func pingTest(ctx context.Context, client, addr string, count int) (pingResult, string, error) {
	out, err := run(ctx, inNS(client, "ping", "-c", strconv.Itoa(count), "-i", "0.01", "-W", "1", "-q", addr)...)
	r, perr := parsePing(out)
	if perr != nil {
		if err != nil {
			return r, out, err
		}
		return r, out, perr
	}
	return r, out, nil
}

func parsePing(out string) (pingResult, error) {
	var r pingResult
	if m := lossRe.FindStringSubmatch(out); m != nil {
		r.LossPct, _ = strconv.ParseFloat(m[1], 64)
	}
	m := rttRe.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no rtt line in ping output: %q", strings.TrimSpace(out))
	}
	v := make([]float64, 4)
	for i := range v {
		v[i], _ = strconv.ParseFloat(m[i+1], 64)
		v[i] *= 1000
	}
	r.MinUs, r.AvgUs, r.MaxUs, r.MdevUs = v[0], v[1], v[2], v[3]
	return r, nil
}
