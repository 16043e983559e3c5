// Package client is the Go client of the brain's admin API (networks,
// VIFs, hosts, audits). It imports no etcd code, so the switchyard CLI can
// carry it at no cost.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-net/switchyard/internal/brain/model"
	"github.com/switchyard-net/switchyard/internal/brain/wire"
)

// DefaultAddress is where the brain listens unless told otherwise.
const DefaultAddress = "unix:/run/switchyard/brain.sock"

// UnreachableError means the brain could not be reached.
type UnreachableError struct {
	Address string
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the brain at %s: %v (is `switchyard-brain` running? set --brain or SWITCHYARD_BRAIN)", e.Address, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Client talks to a brain.
type Client struct {
	Address string
	Token   string
	base    string
	http    *http.Client
}

// New returns a client for address: "unix:PATH", a bare absolute path, or
// "http(s)://HOST:PORT".
func New(address, token string) (*Client, error) {
	if address == "" {
		address = DefaultAddress
	}
	c := &Client{Address: address, Token: token}
	var dial func(ctx context.Context, network, addr string) (net.Conn, error)
	switch {
	case strings.HasPrefix(address, "http://"), strings.HasPrefix(address, "https://"):
		u, err := url.Parse(address)
		if err != nil || u.Host == "" {
			return nil, model.Invalid("brain", "unix:PATH, http://HOST:PORT or https://HOST:PORT", "%q", address)
		}
		c.base = strings.TrimSuffix(address, "/")
	default:
		path := strings.TrimPrefix(address, "unix:")
		if !strings.HasPrefix(path, "/") {
			return nil, model.Invalid("brain", "unix:PATH, http://HOST:PORT or https://HOST:PORT", "%q", address)
		}
		c.base = "http://brain"
		dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	}
	c.http = &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: 11 * time.Minute}
	return c, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &UnreachableError{Address: c.Address, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return &UnreachableError{Address: c.Address, Err: err}
	}
	if resp.StatusCode >= 300 {
		var eb wire.ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			return eb.Error
		}
		return &model.Error{Code: model.CodeInternal, Message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(raw)))}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode %s %s answer: %w", method, path, err)
		}
	}
	return nil
}

func waitQ(wait time.Duration) string {
	if wait <= 0 {
		return ""
	}
	return "?wait=" + url.QueryEscape(wait.String())
}

// CreateNetwork creates a network.
func (c *Client) CreateNetwork(ctx context.Context, n model.Network) (model.Network, error) {
	var out model.Network
	return out, c.do(ctx, http.MethodPost, wire.PathNetworks, n, &out)
}

// Networks lists the networks.
func (c *Client) Networks(ctx context.Context) ([]wire.NetworkStatus, error) {
	var out []wire.NetworkStatus
	return out, c.do(ctx, http.MethodGet, wire.PathNetworks, nil, &out)
}

// Network shows one network and its VIFs.
func (c *Client) Network(ctx context.Context, name string) (*wire.NetworkDetail, error) {
	var out wire.NetworkDetail
	return &out, c.do(ctx, http.MethodGet, wire.PathNetworks+"/"+url.PathEscape(name), nil, &out)
}

// DeleteNetwork deletes a network without ports.
func (c *Client) DeleteNetwork(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, wire.PathNetworks+"/"+url.PathEscape(name), nil, nil)
}

// Plug binds a VIF; with wait > 0 it returns once every interested agent
// programmed it.
func (c *Client) Plug(ctx context.Context, p model.Port, wait time.Duration) (wire.VIFStatus, error) {
	var out wire.VIFStatus
	return out, c.do(ctx, http.MethodPost, wire.PathVIFs+waitQ(wait), wire.PlugRequest{Port: p}, &out)
}

// Unplug removes a VIF.
func (c *Client) Unplug(ctx context.Context, id string, wait time.Duration) error {
	return c.do(ctx, http.MethodDelete, wire.PathVIFs+"/"+url.PathEscape(id)+waitQ(wait), nil, nil)
}

// Move moves a VIF to another host, make-before-break.
func (c *Client) Move(ctx context.Context, id, to string, wait time.Duration) (wire.VIFStatus, error) {
	var out wire.VIFStatus
	return out, c.do(ctx, http.MethodPost, wire.PathVIFs+"/"+url.PathEscape(id)+"/move"+waitQ(wait), wire.MoveRequest{ToHost: to}, &out)
}

// VIFs lists VIFs, optionally of a network and/or a host.
func (c *Client) VIFs(ctx context.Context, network, host string) ([]wire.VIFStatus, error) {
	q := url.Values{}
	if network != "" {
		q.Set("network", network)
	}
	if host != "" {
		q.Set("host", host)
	}
	path := wire.PathVIFs
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []wire.VIFStatus
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// VIF shows one VIF.
func (c *Client) VIF(ctx context.Context, id string) (wire.VIFStatus, error) {
	var out wire.VIFStatus
	return out, c.do(ctx, http.MethodGet, wire.PathVIFs+"/"+url.PathEscape(id), nil, &out)
}

// Hosts lists the hosts.
func (c *Client) Hosts(ctx context.Context) ([]wire.HostInfo, error) {
	var out []wire.HostInfo
	return out, c.do(ctx, http.MethodGet, wire.PathHosts, nil, &out)
}

// Host shows one host.
func (c *Client) Host(ctx context.Context, name string) (wire.HostInfo, error) {
	var out wire.HostInfo
	return out, c.do(ctx, http.MethodGet, wire.PathHosts+"/"+url.PathEscape(name), nil, &out)
}

// Status describes the brain.
func (c *Client) Status(ctx context.Context) (wire.Status, error) {
	var out wire.Status
	return out, c.do(ctx, http.MethodGet, wire.PathStatus, nil, &out)
}

// Audit asks agents (all connected ones if hosts is empty) to audit.
func (c *Client) Audit(ctx context.Context, hosts []string) (wire.AuditAll, error) {
	path := wire.PathAuditAll
	if len(hosts) > 0 {
		path += "?host=" + url.QueryEscape(strings.Join(hosts, ","))
	}
	var out wire.AuditAll
	return out, c.do(ctx, http.MethodPost, path, nil, &out)
}
