package vswitchd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard-net/switchyard/internal/api"
	"github.com/switchyard-net/switchyard/internal/config"
)

// Options configure the daemon.
type Options struct {
	StateDir string // where the configuration store lives
	Socket   string // the API's unix socket
	Logger   *slog.Logger
	// NoOffload opens TAPs without a vnet header, AF_PACKET sockets
	// without PACKET_VNET_HDR and tunnel sockets without UDP GSO/GRO:
	// every frame is complete and MTU-sized everywhere (slower; for
	// debugging and for testing both paths).
	NoOffload bool
	// Memory opens every port as an in-memory device (netdev.Memory)
	// instead of an OS device: for tests of the daemon without root, and
	// for trying configurations out.
	Memory bool
	// Web serves the dashboard on this TCP address (off when empty);
	// WebToken is required from its clients unless Web is a loopback
	// address. MetricsListen also serves /metrics on this TCP address.
	Web, WebToken, MetricsListen string
}

// DefaultStateDir is the daemon's state directory unless told otherwise.
const DefaultStateDir = "/var/lib/switchyard"

// Run runs the daemon until ctx ends: it opens the store, rebuilds the
// switch from it (re-adopting TAPs in their namespaces, re-attaching system
// ports, re-pairing patch ports, re-installing static FDB entries), serves
// the API and ages the FDBs. On return every device is closed; persistent
// TAPs and veths stay, so VMs keep their NICs.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.Socket == "" {
		o.Socket = api.DefaultSocket
	}
	abs, err := filepath.Abs(o.Socket)
	if err == nil {
		o.Socket = abs
	}
	store, err := config.Open(o.StateDir)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sw := newSwitch(ctx, store, o.Logger, !o.NoOffload, o.Memory)
	sw.setOpenFlowDir(filepath.Dir(o.Socket)) // BRIDGE.mgmt next to the API socket
	defer sw.close()
	_, rev := store.Get()
	o.Logger.Info("switchyard daemon starting", "version", Version, "state_dir", o.StateDir, "socket", o.Socket, "revision", rev, "offload", sw.offload)
	sw.Reconcile()
	obs, err := startObserve(ctx, sw, o)
	if err != nil {
		return err
	}

	go func() {
		w := store.Watch()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		retry := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-w:
				sw.Reconcile()
			case now := <-t.C:
				sw.tick(now)
				// Ports whose device failed are retried every 5 s.
				if retry++; retry%5 == 0 && sw.hasFailedPorts() {
					sw.Reconcile()
				}
			}
		}
	}()
	err = api.Serve(ctx, o.Socket, sw)
	if err != nil && !errors.Is(err, context.Canceled) {
		obs.stopped(err)
		return fmt.Errorf("api: %w", err)
	}
	obs.stopped(nil)
	o.Logger.Info("switchyard daemon stopping")
	return nil
}

func (s *Switch) hasFailedPorts() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, _ := s.store.Get()
	for name := range cfg.Ports {
		if rp := s.ports[name]; rp == nil || rp.status == "error" {
			return true
		}
	}
	return false
}
