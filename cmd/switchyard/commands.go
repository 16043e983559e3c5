package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
	"github.com/switchyard-net/switchyard/internal/datapath"
	"github.com/switchyard-net/switchyard/internal/lab"
)

var bridgeFlags = merge(flagSpec{"fdb-aging": true, "fdb-max": true, "fdb-full-policy": true, "flow-cache-max": true}, ofBridgeFlags)

var vlanFlags = flagSpec{"vlan": true, "trunk": true, "native-vlan": true, "native-tagged": false, "no-learning": false, "learning": false}

var tunnelFlags = flagSpec{"local": true, "remote": true, "group": true, "dev": true, "vni": true, "vni-map": true,
	"dst-port": true, "src-port-range": true, "udp-csum": true, "ttl": true, "tos": true}

func merge(specs ...flagSpec) flagSpec {
	m := flagSpec{}
	for _, s := range specs {
		for k, v := range s {
			m[k] = v
		}
	}
	return m
}

func table(out io.Writer, header string, rows [][]string) {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	w.Flush()
}

func cmdBridge(sub string, argv []string, out io.Writer) error {
	switch sub {
	case "add", "set":
		p, err := parse("bridge "+sub, argv, merge(bridgeFlags, bridgeSTPFlags))
		if err != nil {
			return err
		}
		if err := p.want(1, 1, bridgeSynopsis); err != nil {
			return err
		}
		b := config.Bridge{Name: p.args[0]}
		c := client(p)
		if sub == "set" {
			// Keep every setting not given on the command line.
			cfg, err := c.Config()
			if err != nil {
				return err
			}
			if cur, ok := cfg.Bridges[b.Name]; ok {
				b = *cur
				b.Name = p.args[0]
				if err := openflowSettings(p, &b, cur); err != nil {
					return err
				}
			}
		}
		if p.set["fdb-full-policy"] {
			b.FDBFullPolicy = p.flags["fdb-full-policy"]
		}
		for _, f := range []struct {
			flag, allowed string
			dst           *int
		}{
			{"fdb-aging", "10-1000000 seconds", &b.FDBAging},
			{"fdb-max", "1-16777216", &b.FDBMax},
			{"flow-cache-max", datapath.AllowedCacheMax, &b.FlowCacheMax},
		} {
			if !p.set[f.flag] {
				continue
			}
			if *f.dst, err = p.intFlag(f.flag, f.allowed); err != nil {
				return err
			}
		}
		if err := bridgeSTPSettings(p, &b, b.BridgeSTP); err != nil {
			return err
		}
		if sub == "set" {
			return c.SetBridge(b)
		}
		if err := openflowSettings(p, &b, nil); err != nil {
			return err
		}
		return c.AddBridge(b)
	case "del":
		p, err := parse("bridge del", argv, nil)
		if err != nil {
			return err
		}
		if err := p.want(1, 1, "NAME"); err != nil {
			return err
		}
		return client(p).DelBridge(p.args[0])
	case "list":
		p, err := parse("bridge list", argv, nil)
		if err != nil {
			return err
		}
		if err := p.want(0, 0, ""); err != nil {
			return err
		}
		s, err := client(p).Show()
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, s.Bridges)
		}
		var rows [][]string
		for _, b := range s.Bridges {
			rows = append(rows, []string{b.Name, strconv.Itoa(len(b.Ports)), strconv.Itoa(b.AgingSeconds),
				fmt.Sprintf("%d/%d", b.FDB.Entries, b.MaxLearned), b.FullPolicy})
		}
		table(out, "BRIDGE\tPORTS\tAGING(s)\tFDB\tFULL-POLICY", rows)
		return nil
	}
	return usagef("unknown command `bridge %s`; allowed: add, set, del, list", sub)
}

// vlanSettings applies the VLAN flags of a command line to a port.
func vlanSettings(p *parsed, port *config.Port) error {
	var err error
	if port.VLAN, err = p.intFlag("vlan", "1-4094"); err != nil {
		return err
	}
	if p.set["vlan"] && (port.VLAN < 1 || port.VLAN > 4094) {
		return usagef("vlan: %d is not valid; allowed: 1-4094", port.VLAN)
	}
	port.Trunks = p.flags["trunk"]
	if p.set["trunk"] && port.Trunks == "" {
		return usagef("trunk: empty list; allowed: VLAN IDs 1-4094 like 10,20,30-40")
	}
	if port.NativeVLAN, err = p.intFlag("native-vlan", "1-4094"); err != nil {
		return err
	}
	port.NativeTagged = p.set["native-tagged"]
	port.NoLearning = p.set["no-learning"]
	return nil
}

func tunnelSettings(p *parsed) (*config.Tunnel, error) {
	t := &config.Tunnel{Local: p.flags["local"], Group: p.flags["group"], Dev: p.flags["dev"],
		VNIMap: p.flags["vni-map"], UDPCsum: p.flags["udp-csum"], TOS: p.flags["tos"]}
	if r := p.flags["remote"]; r != "" {
		for _, a := range strings.Split(r, ",") {
			t.Remotes = append(t.Remotes, strings.TrimSpace(a))
		}
	}
	var err error
	if t.VNI, err = p.intFlag("vni", "0-16777215"); err != nil {
		return nil, err
	}
	if t.DstPort, err = p.intFlag("dst-port", "1-65535"); err != nil {
		return nil, err
	}
	if t.TTL, err = p.intFlag("ttl", "1-255"); err != nil {
		return nil, err
	}
	if r := p.flags["src-port-range"]; r != "" {
		lo, hi, ok := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if !ok || err1 != nil || err2 != nil {
			return nil, usagef("src-port-range: %q; allowed: LOW-HIGH like 49152-65535", r)
		}
		t.SrcPortMin, t.SrcPortMax = a, b
	}
	return t, nil
}

func cmdPort(sub string, argv []string, out io.Writer) error {
	switch sub {
	case "add":
		p, err := parse("port add", argv, merge(vlanFlags, tunnelFlags, bondFlags, portSTPFlags, flagSpec{"type": true, "netns": true, "peer": true, "ofport": true}))
		if err != nil {
			return err
		}
		if err := p.want(2, 2, "BRIDGE NAME --type tap|system|internal|patch|vxlan|geneve|gre|bond [flags]"); err != nil {
			return err
		}
		port := config.Port{Bridge: p.args[0], Name: p.args[1], Type: p.flags["type"], NetNS: p.flags["netns"], Peer: p.flags["peer"]}
		if port.OFPort, err = p.intFlag("ofport", "1-65279"); err != nil {
			return err
		}
		if p.set["ofport"] && (port.OFPort < 1 || port.OFPort > 65279) {
			return usagef("ofport: %d is not valid; allowed: 1-65279", port.OFPort)
		}
		if port.Type == "" {
			return usagef("type: missing; allowed: %s", join(config.PortTypes))
		}
		if err := vlanSettings(p, &port); err != nil {
			return err
		}
		if err := portSTPSettings(p, &port); err != nil {
			return err
		}
		if err := bondSettings(p, &port); err != nil {
			return err
		}
		switch port.Type {
		case config.TypeVXLAN, config.TypeGeneve, config.TypeGRE:
			if port.Tunnel, err = tunnelSettings(p); err != nil {
				return err
			}
		default:
			for name := range tunnelFlags {
				if p.set[name] {
					return usagef("%s: applies to tunnel ports only (--type vxlan|geneve|gre), not %s", name, port.Type)
				}
			}
		}
		return client(p).AddPort(port)
	case "set":
		p, err := parse("port set", argv, merge(vlanFlags, portSTPFlags, flagSpec{"vni-map": true}))
		if err != nil {
			return err
		}
		if err := p.want(2, 2, "BRIDGE NAME [VLAN flags]"); err != nil {
			return err
		}
		c := client(p)
		cfg, err := c.Config()
		if err != nil {
			return err
		}
		cur, ok := cfg.Ports[p.args[1]]
		if !ok || cur.Bridge != p.args[0] {
			return usagef("port: %q is not on bridge %q", p.args[1], p.args[0])
		}
		port := *cur
		// Change only what is named; choosing a mode clears the other's.
		var given config.Port
		if err := vlanSettings(p, &given); err != nil {
			return err
		}
		if p.set["vlan"] {
			port.VLAN, port.Trunks, port.NativeVLAN, port.NativeTagged = given.VLAN, "", 0, false
		}
		if p.set["trunk"] {
			port.VLAN, port.Trunks = 0, given.Trunks
		}
		if p.set["native-vlan"] {
			port.VLAN, port.NativeVLAN = 0, given.NativeVLAN
		}
		if p.set["native-tagged"] {
			port.NativeTagged = true
		}
		if p.set["no-learning"] {
			port.NoLearning = true
		}
		if p.set["learning"] {
			port.NoLearning = false
		}
		if err := portSTPSettings(p, &port); err != nil {
			return err
		}
		if p.set["vni-map"] {
			if port.Tunnel == nil {
				return usagef("vni-map: applies to tunnel ports only")
			}
			port.Tunnel.VNIMap = p.flags["vni-map"]
		}
		return c.SetPort(port)
	case "del":
		p, err := parse("port del", argv, nil)
		if err != nil {
			return err
		}
		if err := p.want(2, 2, "BRIDGE NAME"); err != nil {
			return err
		}
		return client(p).DelPort(p.args[0], p.args[1])
	case "list":
		p, err := parse("port list", argv, nil)
		if err != nil {
			return err
		}
		if err := p.want(1, 1, "BRIDGE"); err != nil {
			return err
		}
		s, err := client(p).Show()
		if err != nil {
			return err
		}
		for _, b := range s.Bridges {
			if b.Name == p.args[0] {
				if p.set["json"] {
					return printJSON(out, b.Ports)
				}
				portTable(out, b.Ports)
				return nil
			}
		}
		return &api.Error{Code: api.CodeNotFound, Field: "bridge", Message: fmt.Sprintf("bridge %q does not exist", p.args[0])}
	}
	return usagef("unknown command `port %s`; allowed: add, set, del, list", sub)
}

// vlanText describes a port's VLAN settings.
func vlanText(p config.Port) (mode, vlans string) {
	switch {
	case p.Tunnel != nil && p.Tunnel.VNIMap != "":
		return "vni-map", p.Tunnel.VNIMap
	case p.VLAN != 0:
		return "access", strconv.Itoa(p.VLAN)
	case p.Trunks == "" && p.NativeVLAN == 0:
		return "trunk", "all (untagged: native)"
	}
	v := p.Trunks
	if v == "" {
		v = "all"
	}
	if p.NativeVLAN != 0 {
		v += fmt.Sprintf(" native %d", p.NativeVLAN)
		if p.NativeTagged {
			v += " tagged"
		}
	}
	return "trunk", v
}

func portTable(out io.Writer, ports []api.PortStatus) {
	var rows [][]string
	for _, p := range ports {
		mode, vlans := vlanText(p.Port)
		where := p.NetNS
		if p.Peer != "" {
			where = "peer " + p.Peer
		}
		if t := p.Tunnel; t != nil {
			to := join(t.Remotes)
			if t.Group != "" {
				to = "group " + t.Group + " dev " + t.Dev
			}
			where = fmt.Sprintf("%s→%s", t.Local, to)
			if t.VNI != 0 {
				vlans += fmt.Sprintf(" vni %d", t.VNI)
			}
			if p.Overhead > 0 {
				where += fmt.Sprintf(" (overhead %d, VM MTU %d)", p.Overhead, p.VMMTU)
			}
		}
		status := p.Status
		if p.Reason != "" {
			status += " (" + p.Reason + ")"
		}
		rows = append(rows, []string{p.Name, strconv.Itoa(p.OFPort), p.Type, mode, vlans, orDash(where), status, orDash(strings.Join(p.Offloads, ",")),
			strconv.FormatUint(p.Stats.RxPackets, 10), strconv.FormatUint(p.Stats.TxPackets, 10), strconv.FormatUint(sumDrops(p.Stats.Drops), 10)})
	}
	table(out, "PORT\tOFPORT\tTYPE\tMODE\tVLANS\tWHERE\tSTATUS\tOFFLOAD\tRX\tTX\tDROPS", rows)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sumDrops(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

func cmdVethAdd(argv []string, out io.Writer) error {
	p, err := parse("veth add", argv, merge(vlanFlags, portSTPFlags, flagSpec{"netns": true, "bridge": true, "peer-name": true}))
	if err != nil {
		return err
	}
	if err := p.want(1, 1, "NAME --netns NS --bridge BRIDGE [--peer-name IFNAME] [VLAN flags]"); err != nil {
		return err
	}
	if p.flags["netns"] == "" {
		return usagef("netns: missing; allowed: the name of an existing namespace (ip netns add NAME)")
	}
	if p.flags["bridge"] == "" {
		return usagef("bridge: missing; allowed: the name of an existing bridge")
	}
	r := api.VethRequest{Port: config.Port{Name: p.args[0], Bridge: p.flags["bridge"], NetNS: p.flags["netns"]}, PeerName: p.flags["peer-name"]}
	if err := vlanSettings(p, &r.Port); err != nil {
		return err
	}
	if err := portSTPSettings(p, &r.Port); err != nil {
		return err
	}
	return client(p).AddVeth(r)
}

func parseVLANArg(p *parsed) (int, error) {
	if !p.set["vlan"] {
		return -1, nil
	}
	n, err := strconv.Atoi(p.flags["vlan"])
	if err != nil || n < 0 || n > 4094 {
		return 0, usagef("vlan: %q; allowed: 0-4094 (0 = untagged)", p.flags["vlan"])
	}
	return n, nil
}

func cmdFDB(sub string, argv []string, out io.Writer) error {
	switch sub {
	case "show":
		p, err := parse("fdb show", argv, flagSpec{"vlan": true})
		if err != nil {
			return err
		}
		if err := p.want(1, 1, "BRIDGE [--vlan VID]"); err != nil {
			return err
		}
		vlan, err := parseVLANArg(p)
		if err != nil {
			return err
		}
		fdb, err := client(p).FDB(p.args[0], vlan)
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, fdb)
		}
		var rows [][]string
		for _, e := range fdb {
			age := strconv.Itoa(int(e.Age))
			if e.Type == "static" {
				age = "-"
			}
			rows = append(rows, []string{strconv.Itoa(int(e.VLAN)), e.MAC, e.Port, orDash(e.Remote), e.Type, age})
		}
		table(out, "VLAN\tMAC\tPORT\tREMOTE\tTYPE\tAGE(s)", rows)
		return nil
	case "add":
		p, err := parse("fdb add", argv, flagSpec{"vlan": true, "remote": true})
		if err != nil {
			return err
		}
		if err := p.want(3, 3, "BRIDGE MAC PORT [--vlan VID] [--remote IP]"); err != nil {
			return err
		}
		vlan, err := parseVLANArg(p)
		if err != nil {
			return err
		}
		if vlan < 0 {
			vlan = 0
		}
		if _, err := net.ParseMAC(p.args[1]); err != nil {
			return usagef("mac: %q; allowed: a unicast MAC like 02:00:00:00:00:01", p.args[1])
		}
		return client(p).AddFDB(p.args[0], api.FDBRequest{MAC: p.args[1], VLAN: vlan, Port: p.args[2], Remote: p.flags["remote"]})
	case "del":
		p, err := parse("fdb del", argv, flagSpec{"vlan": true})
		if err != nil {
			return err
		}
		if err := p.want(2, 3, "BRIDGE MAC [--vlan VID]"); err != nil {
			return err
		}
		vlan, err := parseVLANArg(p)
		if err != nil {
			return err
		}
		if vlan < 0 {
			vlan = 0
		}
		return client(p).DelFDB(p.args[0], api.FDBRequest{MAC: p.args[1], VLAN: vlan})
	case "flush":
		p, err := parse("fdb flush", argv, flagSpec{"vlan": true, "port": true})
		if err != nil {
			return err
		}
		if err := p.want(1, 1, "BRIDGE [--port P] [--vlan VID]"); err != nil {
			return err
		}
		vlan, err := parseVLANArg(p)
		if err != nil {
			return err
		}
		n, err := client(p).FlushFDB(p.args[0], api.FDBRequest{Port: p.flags["port"], VLAN: max(vlan, 0), AllVLANs: vlan < 0})
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, api.FlushResult{Removed: n})
		}
		fmt.Fprintf(out, "flushed %d learned entries\n", n)
		return nil
	}
	return usagef("unknown command `fdb %s`; allowed: show, add, del, flush", sub)
}

func cmdShow(argv []string, out io.Writer) error {
	p, err := parse("show", argv, nil)
	if err != nil {
		return err
	}
	if err := p.want(0, 0, ""); err != nil {
		return err
	}
	s, err := client(p).Show()
	if err != nil {
		return err
	}
	if p.set["json"] {
		return printJSON(out, s)
	}
	if len(s.Bridges) == 0 {
		fmt.Fprintln(out, "no bridges (add one with `switchyard bridge add NAME`)")
	}
	for i, b := range s.Bridges {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "bridge %s: %d ports, FDB %d/%d entries (%d static), aging %ds, when full: %s\n",
			b.Name, len(b.Ports), b.FDB.Entries, b.MaxLearned, b.FDB.Static, b.AgingSeconds, b.FullPolicy)
		fmt.Fprintf(out, "  learned %d, moved %d, aged %d, evicted %d, refused %d\n", b.FDB.Learned, b.FDB.Moved, b.FDB.Aged, b.FDB.Evicted, b.FDB.Refused)
		printSTP(out, b)
		printOpenFlow(out, b.OpenFlow)
		if len(b.Ports) > 0 {
			var buf strings.Builder
			portTable(&buf, b.Ports)
			for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
				fmt.Fprintln(out, "  "+line)
			}
		}
	}
	return nil
}

func cmdStats(argv []string, out io.Writer) error {
	p, err := parse("stats", argv, nil)
	if err != nil {
		return err
	}
	if err := p.want(0, 2, "[BRIDGE [PORT]]"); err != nil {
		return err
	}
	s, err := client(p).Show()
	if err != nil {
		return err
	}
	var bridges []api.BridgeStatus
	for _, b := range s.Bridges {
		if len(p.args) == 0 || b.Name == p.args[0] {
			bridges = append(bridges, b)
		}
	}
	if len(p.args) > 0 && len(bridges) == 0 {
		return &api.Error{Code: api.CodeNotFound, Field: "bridge", Message: fmt.Sprintf("bridge %q does not exist", p.args[0])}
	}
	if len(p.args) == 2 {
		for _, port := range bridges[0].Ports {
			if port.Name == p.args[1] {
				if p.set["json"] {
					return printJSON(out, port)
				}
				bridges[0].Ports = []api.PortStatus{port}
				return statsTable(out, bridges)
			}
		}
		return &api.Error{Code: api.CodeNotFound, Field: "port", Message: fmt.Sprintf("port %q is not on bridge %q", p.args[1], p.args[0])}
	}
	if p.set["json"] {
		return printJSON(out, bridges)
	}
	return statsTable(out, bridges)
}

func statsTable(out io.Writer, bridges []api.BridgeStatus) error {
	var rows [][]string
	for _, b := range bridges {
		for _, p := range b.Ports {
			var drops []string
			for r, n := range p.Stats.Drops {
				drops = append(drops, fmt.Sprintf("%s=%d", r, n))
			}
			sort.Strings(drops)
			rows = append(rows, []string{b.Name, p.Name, u(p.Stats.RxPackets), u(p.Stats.RxBytes), u(p.Stats.TxPackets), u(p.Stats.TxBytes), orDash(strings.Join(drops, " "))})
		}
	}
	table(out, "BRIDGE\tPORT\tRX-PKTS\tRX-BYTES\tTX-PKTS\tTX-BYTES\tDROPS", rows)
	fmt.Fprintln(out)
	var frows [][]string
	for _, b := range bridges {
		f := b.FDB
		frows = append(frows, []string{b.Name, strconv.Itoa(f.Entries), strconv.Itoa(f.Static), strconv.Itoa(f.Max), u(f.Learned), u(f.Moved), u(f.Aged), u(f.Evicted), u(f.Refused), u(f.Flushed)})
	}
	table(out, "BRIDGE\tFDB\tSTATIC\tMAX\tLEARNED\tMOVED\tAGED\tEVICTED\tREFUSED\tFLUSHED", frows)
	return nil
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }

func cmdLab(sub string, argv []string, out io.Writer) error {
	p, err := parse("lab "+sub, argv, flagSpec{"hosts": true, "tenants": true, "vms-per-host": true, "encap": true, "state-dir": true, "dst-port": true, "prefix": true})
	if err != nil {
		return err
	}
	dir := p.flags["state-dir"]
	if dir == "" {
		dir = lab.DefaultStateDir
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	switch sub {
	case "up":
		o := lab.Options{Hosts: 2, Tenants: 2, VMsPerHost: 1, Encap: "vxlan", Binary: self, StateDir: dir, Out: out}
		for _, f := range []struct {
			name string
			dst  *int
		}{{"hosts", &o.Hosts}, {"tenants", &o.Tenants}, {"vms-per-host", &o.VMsPerHost}, {"dst-port", &o.DstPort}} {
			if p.set[f.name] {
				if *f.dst, err = p.intFlag(f.name, "a number"); err != nil {
					return err
				}
			}
		}
		if p.set["encap"] {
			o.Encap = p.flags["encap"]
		}
		o.Prefix = p.flags["prefix"]
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return lab.Up(ctx, o)
	case "status":
		return lab.Status(dir, self, out)
	case "down":
		return lab.Down(dir, out)
	}
	return usagef("unknown command `lab %s`; allowed: up, status, down", sub)
}
