// Command ovsdbd runs Switchyard's OVSDB server standalone, for the
// crash tests and the benchmarks (the daemon embeds the same server):
//
//	ovsdbd --db FILE --remote punix:SOCK [--remote ptcp:PORT[:IP]]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
	"github.com/switchyard-net/switchyard/internal/ovsdb/server"
	"github.com/switchyard-net/switchyard/internal/ovsdb/vswitch"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var remotes list
	dbPath := flag.String("db", "", "database file (created when missing)")
	flag.Var(&remotes, "remote", "punix:PATH or ptcp:PORT[:IP] (repeatable)")
	verbose := flag.Bool("v", false, "log at debug level")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here until the server stops")
	flag.Parse()
	if *dbPath == "" || len(remotes) == 0 {
		fmt.Fprintln(os.Stderr, "usage: ovsdbd --db FILE --remote punix:PATH [--remote ptcp:PORT[:IP]]")
		os.Exit(2)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Error("cpuprofile", "err", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*dbPath, remotes, log); err != nil {
		log.Error("ovsdbd", "err", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(path string, remotes []string, log *slog.Logger) error {
	db, err := ovsdb.Open(path, vswitch.Schema(), ovsdb.Options{Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	srv := server.New(server.Config{Logger: log})
	if err := srv.AddDB(db); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, len(remotes))
	for _, r := range remotes {
		l, err := server.Listen(r)
		if err != nil {
			return err
		}
		go func() { errc <- srv.Serve(ctx, l) }()
	}
	fmt.Println("ready")
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}
