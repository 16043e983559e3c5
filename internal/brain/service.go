package brain

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ServiceOptions configure `switchyard-brain`.
type ServiceOptions struct {
	// Listen is "unix:PATH" (default unix:/run/switchyard/brain.sock) or
	// "tcp:HOST:PORT" (then Token is required).
	Listen string
	Token  string
	// Endpoints of an external etcd cluster; empty runs an embedded
	// single-member etcd in DataDir.
	Endpoints []string
	DataDir   string
	// EtcdClientURL is the embedded etcd's client URL (default
	// http://127.0.0.1:2379 would collide with a system etcd: the default
	// is 127.0.0.1:23790).
	EtcdClientURL string
	EtcdPeerURL   string
	NoFsync       bool
	Brain         Options
	Logger        *slog.Logger
}

// DefaultDataDir holds the embedded etcd.
const DefaultDataDir = "/var/lib/switchyard/brain"

// RunService runs the brain until ctx ends.
func RunService(ctx context.Context, o ServiceOptions) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if strings.HasPrefix(o.Listen, "tcp:") && o.Token == "" {
		return fmt.Errorf("token-file: a TCP listener needs a bearer token (--token-file FILE)")
	}
	eps := o.Endpoints
	embedded := len(eps) == 0
	if embedded {
		if o.DataDir == "" {
			o.DataDir = DefaultDataDir
		}
		if o.EtcdClientURL == "" {
			o.EtcdClientURL = "http://127.0.0.1:23790"
		}
		if o.EtcdPeerURL == "" {
			o.EtcdPeerURL = "http://127.0.0.1:23800"
		}
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return fmt.Errorf("data-dir: %w", err)
		}
		e, ep, err := StartEmbedded(EmbeddedOptions{Dir: filepath.Join(o.DataDir, "etcd"), ClientURL: o.EtcdClientURL, PeerURL: o.EtcdPeerURL, NoFsync: o.NoFsync})
		if err != nil {
			return err
		}
		defer e.Close()
		eps = []string{ep}
		o.Logger.Info("brain: embedded etcd ready", "dir", o.DataDir, "client", ep, "fsync", !o.NoFsync)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialKeepAliveTime: 5 * time.Second, DialKeepAliveTimeout: 3 * time.Second})
	if err != nil {
		return fmt.Errorf("etcd-endpoints: %w", err)
	}
	defer cli.Close()
	o.Brain.Endpoints, o.Brain.Embedded, o.Brain.Logger = eps, embedded, o.Logger
	var b *Brain
	for {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, err = New(sctx, cli, o.Brain)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		o.Logger.Warn("brain: etcd not ready; retrying", "endpoints", eps, "err", err)
		time.Sleep(time.Second)
	}
	defer b.Close()
	ln, err := Listen(o.Listen)
	if err != nil {
		return err
	}
	o.Logger.Info("brain: serving", "listen", ln.Addr().String(), "revision", b.Revision())
	return b.Serve(ctx, ln, o.Token)
}
