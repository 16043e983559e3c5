package brain

import (
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// EmbeddedOptions configure the embedded single-member etcd.
type EmbeddedOptions struct {
	Dir string
	// ClientURL and PeerURL default to 127.0.0.1 on ports 0 (chosen by the
	// kernel): an embedded etcd serves this machine only.
	ClientURL, PeerURL string
	// Name of the member, InitialCluster and ClusterState for the members
	// of a cluster of embedded members (tests); empty: a single member.
	Name, InitialCluster, ClusterState, Token string
	// NoFsync turns fsync off (benchmark comparison only; never in use).
	NoFsync bool
	// AutoCompaction keeps this much revision history (default 1h).
	AutoCompaction string
	LogLevel       string
	// Quiet sends etcd's own log to /dev/null (tests, benchmarks).
	Quiet bool
}

// StartEmbedded starts an etcd member in this process and returns it with
// its client URL once it serves.
func StartEmbedded(o EmbeddedOptions) (*embed.Etcd, string, error) {
	cfg := embed.NewConfig()
	cfg.Dir = o.Dir
	if o.Name != "" {
		cfg.Name = o.Name
	}
	if o.ClientURL == "" {
		o.ClientURL = "http://127.0.0.1:0"
	}
	if o.PeerURL == "" {
		o.PeerURL = "http://127.0.0.1:0"
	}
	cu, err := url.Parse(o.ClientURL)
	if err != nil {
		return nil, "", fmt.Errorf("etcd client url: %w", err)
	}
	pu, err := url.Parse(o.PeerURL)
	if err != nil {
		return nil, "", fmt.Errorf("etcd peer url: %w", err)
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	if o.InitialCluster != "" {
		cfg.InitialCluster = o.InitialCluster
		cfg.ClusterState = o.ClusterState
		if o.Token != "" {
			cfg.InitialClusterToken = o.Token
		}
	} else {
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	}
	cfg.UnsafeNoFsync = o.NoFsync
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = o.AutoCompaction
	if cfg.AutoCompactionRetention == "" {
		cfg.AutoCompactionRetention = "1h"
	}
	cfg.LogLevel = o.LogLevel
	if cfg.LogLevel == "" {
		cfg.LogLevel = "error"
	}
	if o.Quiet {
		cfg.LogOutputs = []string{"/dev/null"}
	}
	cfg.QuotaBackendBytes = 8 << 30
	cfg.WatchProgressNotifyInterval = 5 * time.Second
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("embedded etcd did not become ready within 60s")
	}
	return e, e.Clients[0].Addr().String(), nil
}
