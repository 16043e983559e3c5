package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/switchyard-net/switchyard/internal/api"
)

// cmdFlow runs `switchyard flow add|mod|del|dump`.
func cmdFlow(sub string, argv []string, out io.Writer) error {
	switch sub {
	case "add":
		p, err := parse("flow add", argv, flagSpec{"file": true})
		if err != nil {
			return err
		}
		var lines []string
		if f, ok := p.flags["file"]; ok {
			if err := p.want(1, 1, "BRIDGE --file FLOWS"); err != nil {
				return err
			}
			if lines, err = readFlows(f); err != nil {
				return err
			}
		} else {
			if err := p.want(2, 2, "BRIDGE 'FLOW' (or BRIDGE --file FLOWS)"); err != nil {
				return err
			}
			lines = []string{p.args[1]}
		}
		res, err := client(p).AddFlows(p.args[0], lines)
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, res)
		}
		fmt.Fprintf(out, "%s added\n", flowCount(res.Added))
		return nil
	case "mod":
		p, err := parse("flow mod", argv, flagSpec{"strict": false})
		if err != nil {
			return err
		}
		if err := p.want(2, 2, "BRIDGE 'MATCH,actions=…' [--strict]"); err != nil {
			return err
		}
		res, err := client(p).ModFlows(p.args[0], api.FlowModRequest{Flow: p.args[1], Strict: p.set["strict"]})
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, res)
		}
		fmt.Fprintf(out, "%s modified\n", flowCount(res.Modified))
		return nil
	case "del":
		p, err := parse("flow del", argv, flagSpec{"strict": false})
		if err != nil {
			return err
		}
		if err := p.want(1, 2, "BRIDGE [MATCH] [--strict]"); err != nil {
			return err
		}
		match := ""
		if len(p.args) == 2 {
			match = p.args[1]
		}
		res, err := client(p).DelFlows(p.args[0], api.FlowDelRequest{Match: match, Strict: p.set["strict"]})
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, res)
		}
		fmt.Fprintf(out, "%s deleted\n", flowCount(res.Deleted))
		return nil
	case "dump":
		p, err := parse("flow dump", argv, flagSpec{"table": true})
		if err != nil {
			return err
		}
		if err := p.want(1, 2, "BRIDGE [MATCH] [--table N]"); err != nil {
			return err
		}
		match := ""
		if len(p.args) == 2 {
			match = p.args[1]
		}
		table := -1
		if p.set["table"] {
			if table, err = p.intFlag("table", "0-253"); err != nil {
				return err
			}
		}
		fl, err := client(p).DumpFlows(p.args[0], match, table)
		if err != nil {
			return err
		}
		if p.set["json"] {
			return printJSON(out, fl)
		}
		for _, f := range fl {
			fmt.Fprintln(out, " "+f.Text)
		}
		return nil
	}
	return usagef("unknown command `flow %s`; allowed: flow add, flow mod, flow del, flow dump", sub)
}

// readFlows reads a flows file (or "-" for stdin): one flow per line, blank
// lines and #-comments skipped, a trailing \ continuing a line (as
// ovs-ofctl add-flows reads it).
func readFlows(path string) ([]string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, usagef("file: %v", err)
		}
		defer f.Close()
		r = f
	}
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	pending := ""
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(l, "\\") {
			pending += strings.TrimSuffix(l, "\\")
			continue
		}
		l = pending + l
		pending = ""
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("file: %v", err)
	}
	if len(lines) == 0 {
		return nil, usagef("file: %s has no flows", path)
	}
	return lines, nil
}

// cmdTrace runs `switchyard trace BRIDGE FLOW [--packet HEX]` and
// `switchyard trace --live BRIDGE PORT [--count N]`.
func cmdTrace(argv []string, out io.Writer) error {
	p, err := parse("trace", argv, flagSpec{"packet": true, "live": false, "count": true})
	if err != nil {
		return err
	}
	c := client(p)
	if p.set["live"] {
		if err := p.want(2, 2, "--live BRIDGE PORT [--count N]"); err != nil {
			return err
		}
		n := 1
		if p.set["count"] {
			if n, err = p.intFlag("count", "1-10000"); err != nil {
				return err
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		return c.TraceLive(ctx, p.args[0], p.args[1], n, func(tr *api.TraceResult) {
			if p.set["json"] {
				_ = printJSON(out, tr)
				return
			}
			fmt.Fprintln(out, tr.Text)
		})
	}
	if err := p.want(2, 2, "BRIDGE 'in_port=PORT,FIELD=VALUE,…' [--packet HEX]"); err != nil {
		return err
	}
	res, err := c.Trace(p.args[0], api.TraceRequest{Flow: p.args[1], Packet: p.flags["packet"]})
	if err != nil {
		return err
	}
	if p.set["json"] {
		return printJSON(out, res)
	}
	fmt.Fprint(out, res.Text)
	return nil
}

// cmdDpctl runs `switchyard dpctl dump-flows [BRIDGE]`.
func cmdDpctl(sub string, argv []string, out io.Writer) error {
	if sub != "dump-flows" {
		return usagef("unknown command `dpctl %s`; allowed: dpctl dump-flows", sub)
	}
	p, err := parse("dpctl dump-flows", argv, flagSpec{})
	if err != nil {
		return err
	}
	if err := p.want(0, 1, "[BRIDGE]"); err != nil {
		return err
	}
	c := client(p)
	var bridges []string
	if len(p.args) == 1 {
		bridges = p.args
	} else {
		sh, err := c.Show()
		if err != nil {
			return err
		}
		for _, b := range sh.Bridges {
			bridges = append(bridges, b.Name)
		}
	}
	all := map[string][]api.DatapathFlow{}
	for _, b := range bridges {
		fl, err := c.DatapathFlows(b)
		if err != nil {
			return err
		}
		all[b] = fl
	}
	if p.set["json"] {
		return printJSON(out, all)
	}
	for _, b := range bridges {
		if len(bridges) > 1 {
			fmt.Fprintf(out, "%s:\n", b)
		}
		for _, f := range all[b] {
			fmt.Fprintln(out, f.Text)
		}
	}
	return nil
}

// flowCount is "1 flow" or "N flows".
func flowCount(n int) string {
	if n == 1 {
		return "1 flow"
	}
	return fmt.Sprintf("%d flows", n)
}
