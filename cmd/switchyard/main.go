// Command switchyard is Switchyard's daemon and command-line tool.
//
//	switchyard daemon [--state-dir DIR] [--socket PATH]
//	switchyard bridge add|set|del|list ...
//	switchyard port add|set|del|list ...
//	switchyard veth add NAME --netns NS --bridge BRIDGE ...
//	switchyard fdb show|add|del|flush ...
//	switchyard show | stats [BRIDGE [PORT]] | version
//	switchyard lab up|status|down
//
// Exit codes: 0 done, 1 rejected input (the message names the field and the
// allowed values), 2 daemon unreachable (the message says where it looked).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/vswitchd"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code.
func run(argv []string, stdout, stderr io.Writer) int {
	err := dispatch(argv, stdout)
	if err == nil {
		return 0
	}
	var ex *exitError
	if errors.As(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintln(stderr, "switchyard: "+ex.msg)
		}
		return ex.code
	}
	fmt.Fprintln(stderr, "switchyard: "+err.Error())
	var un *api.UnreachableError
	if errors.As(err, &un) {
		return 2
	}
	return 1
}

func runDaemon(argv []string) error {
	p, err := parse("daemon", argv, merge(flagSpec{"state-dir": true, "log-level": true, "offload": true, "devices": true}, observeDaemonFlags))
	if err != nil {
		return err
	}
	vswitchd.BuildCommit = buildVersion().Commit
	if err := p.want(0, 0, "[--state-dir DIR] [--socket PATH]"); err != nil {
		return err
	}
	level := slog.LevelInfo
	switch p.flags["log-level"] {
	case "", "info":
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	default:
		return usagef("log-level %q is not valid; allowed: debug, info, warn", p.flags["log-level"])
	}
	noOffload := false
	switch p.flags["offload"] {
	case "", "on":
	case "off":
		noOffload = true
	default:
		return usagef("offload %q is not valid; allowed: on, off", p.flags["offload"])
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	memory := false
	switch p.flags["devices"] {
	case "", "os":
	case "memory":
		memory = true
	default:
		return usagef("devices %q is not valid; allowed: os, memory", p.flags["devices"])
	}
	o := vswitchd.Options{StateDir: p.flags["state-dir"], Socket: socketPath(p), Logger: log, NoOffload: noOffload, Memory: memory}
	if err := observeDaemonOptions(p, &o); err != nil {
		return err
	}
	return vswitchd.Run(ctx, o)
}

func socketPath(p *parsed) string {
	if s := p.flags["socket"]; s != "" {
		return s
	}
	if s := os.Getenv("SWITCHYARD_SOCKET"); s != "" {
		return s
	}
	return api.DefaultSocket
}

func client(p *parsed) *api.Client { return api.NewClient(socketPath(p)) }

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func join(l []string) string { return strings.Join(l, ",") }
