// Command switchyard-brain runs Switchyard's control plane: the brain's API
// (unix socket by default, TCP with a bearer token when asked) in front of
// an embedded single-member etcd, or of an external etcd cluster with
// --etcd-endpoints. It is its own binary because the embedded etcd server
// adds about 30 MB that the per-host daemon does not need.
//
//	switchyard-brain [--listen unix:PATH|tcp:HOST:PORT] [--token-file FILE]
//	    [--etcd-endpoints HOST:PORT,...] [--data-dir DIR]
//	    [--etcd-client-url URL] [--etcd-peer-url URL] [--prefix P]
//	    [--ttl SECONDS] [--log-level debug|info|warn]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/switchyard-net/switchyard/internal/brain"
)

func main() {
	fs := flag.NewFlagSet("switchyard-brain", flag.ContinueOnError)
	listen := fs.String("listen", "unix:"+brain.DefaultSocket, "API listener: unix:PATH or tcp:HOST:PORT")
	tokenFile := fs.String("token-file", "", "file with the bearer token (required with tcp:)")
	endpoints := fs.String("etcd-endpoints", "", "external etcd cluster HOST:PORT,...; empty runs an embedded etcd")
	dataDir := fs.String("data-dir", brain.DefaultDataDir, "embedded etcd data directory")
	clientURL := fs.String("etcd-client-url", "", "embedded etcd client URL (default http://127.0.0.1:23790)")
	peerURL := fs.String("etcd-peer-url", "", "embedded etcd peer URL (default http://127.0.0.1:23800)")
	prefix := fs.String("prefix", "", "etcd key prefix (default /switchyard/v1)")
	ttl := fs.Int64("ttl", 10, "default host lease TTL in seconds (2-300)")
	level := fs.String("log-level", "info", "debug, info or warn")
	noFsync := fs.Bool("unsafe-no-fsync", false, "embedded etcd without fsync (benchmark comparisons only)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(1)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "switchyard-brain: unexpected argument %q\n", fs.Arg(0))
		os.Exit(1)
	}
	var lv slog.Level
	switch *level {
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn":
		lv = slog.LevelWarn
	default:
		fmt.Fprintf(os.Stderr, "switchyard-brain: log-level %q is not valid; allowed: debug, info, warn\n", *level)
		os.Exit(1)
	}
	o := brain.ServiceOptions{Listen: *listen, DataDir: *dataDir, EtcdClientURL: *clientURL, EtcdPeerURL: *peerURL, NoFsync: *noFsync,
		Brain:  brain.Options{Prefix: *prefix, TTL: *ttl},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))}
	if *endpoints != "" {
		o.Endpoints = strings.Split(*endpoints, ",")
	}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "switchyard-brain: token-file: %v\n", err)
			os.Exit(1)
		}
		o.Token = strings.TrimSpace(string(b))
		if o.Token == "" {
			fmt.Fprintln(os.Stderr, "switchyard-brain: token-file: the file is empty")
			os.Exit(1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := brain.RunService(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "switchyard-brain: "+err.Error())
		os.Exit(1)
	}
}
