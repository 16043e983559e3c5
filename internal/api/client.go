package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/switchyard-net/switchyard/internal/config"
)

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/switchyard/switchyard.sock"

// UnreachableError means the daemon could not be reached at Socket.
type UnreachableError struct {
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the switchyard daemon at %s: %v (is `switchyard daemon` running? set --socket or SWITCHYARD_SOCKET)", e.Socket, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Client talks to the daemon over its unix socket.
type Client struct {
	Socket string
	http   *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{Socket: path, http: &http.Client{
		// No client-wide timeout: each request has its own (requestTimeout,
		// longer for large flow tables).
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}
}

// requestTimeout bounds a request; a batch of n flows gets a millisecond
// more per flow (the daemon checks, stores and installs them in one
// transaction).
const requestTimeout = 60 * time.Second

func (c *Client) do(method, path string, in, out any) error {
	return c.doTimeout(requestTimeout, method, path, in, out)
}

func (c *Client) doTimeout(timeout time.Duration, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://switchyard"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return &UnreachableError{Socket: c.Socket, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return &UnreachableError{Socket: c.Socket, Err: err}
	}
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			eb.Error.Status = resp.StatusCode
			return eb.Error
		}
		return &Error{Status: resp.StatusCode, Code: CodeInternal, Message: string(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode %s %s answer: %w", method, path, err)
		}
	}
	return nil
}

// Show returns every bridge and port with status and counters.
func (c *Client) Show() (*Show, error) {
	var s Show
	return &s, c.do("GET", "/v1/show", nil, &s)
}

// Config returns the stored configuration.
func (c *Client) Config() (*config.Config, error) {
	var cfg config.Config
	return &cfg, c.do("GET", "/v1/config", nil, &cfg)
}

// Runtime returns the daemon's Go runtime figures.
func (c *Client) Runtime() (*Runtime, error) {
	var r Runtime
	return &r, c.do("GET", "/v1/debug/runtime", nil, &r)
}

// AddBridge creates a bridge.
func (c *Client) AddBridge(b config.Bridge) error { return c.do("POST", "/v1/bridges", b, nil) }

// SetBridge changes a bridge's settings.
func (c *Client) SetBridge(b config.Bridge) error {
	return c.do("PUT", "/v1/bridges/"+url.PathEscape(b.Name), b, nil)
}

// DelBridge removes a bridge.
func (c *Client) DelBridge(name string) error {
	return c.do("DELETE", "/v1/bridges/"+url.PathEscape(name), nil, nil)
}

// AddPort adds a port.
func (c *Client) AddPort(p config.Port) error { return c.do("POST", "/v1/ports", p, nil) }

// SetPort changes a port's settings.
func (c *Client) SetPort(p config.Port) error {
	return c.do("PUT", "/v1/ports/"+url.PathEscape(p.Name), p, nil)
}

// DelPort removes a port of bridge.
func (c *Client) DelPort(bridge, name string) error {
	return c.do("DELETE", "/v1/ports/"+url.PathEscape(name)+"?bridge="+url.QueryEscape(bridge), nil, nil)
}

// AddVeth creates a veth pair and attaches its host end.
func (c *Client) AddVeth(v VethRequest) error { return c.do("POST", "/v1/veth", v, nil) }

// FDB lists a bridge's forwarding entries (vlan < 0: all).
func (c *Client) FDB(bridge string, vlan int) ([]FDBEntry, error) {
	q := ""
	if vlan >= 0 {
		q = fmt.Sprintf("?vlan=%d", vlan)
	}
	var out []FDBEntry
	return out, c.do("GET", "/v1/bridges/"+url.PathEscape(bridge)+"/fdb"+q, nil, &out)
}

// AddFDB adds a static entry.
func (c *Client) AddFDB(bridge string, r FDBRequest) error {
	return c.do("POST", "/v1/bridges/"+url.PathEscape(bridge)+"/fdb", r, nil)
}

// DelFDB deletes an entry.
func (c *Client) DelFDB(bridge string, r FDBRequest) error {
	return c.do("POST", "/v1/bridges/"+url.PathEscape(bridge)+"/fdb/delete", r, nil)
}

// FlushFDB removes learned entries.
func (c *Client) FlushFDB(bridge string, r FDBRequest) (int, error) {
	var res FlushResult
	err := c.do("POST", "/v1/bridges/"+url.PathEscape(bridge)+"/fdb/flush", r, &res)
	return res.Removed, err
}

// AddFlows adds rules (ovs-ofctl lines), all or nothing.
func (c *Client) AddFlows(bridge string, flows []string) (FlowResult, error) {
	var res FlowResult
	return res, c.doTimeout(requestTimeout+time.Duration(len(flows))*time.Millisecond, "POST", "/v1/bridges/"+url.PathEscape(bridge)+"/flows", FlowsRequest{Flows: flows}, &res)
}

// ModFlows modifies rules.
func (c *Client) ModFlows(bridge string, r FlowModRequest) (FlowResult, error) {
	var res FlowResult
	return res, c.do("POST", "/v1/bridges/"+url.PathEscape(bridge)+"/flows/modify", r, &res)
}

// DelFlows deletes rules.
func (c *Client) DelFlows(bridge string, r FlowDelRequest) (FlowResult, error) {
	var res FlowResult
	return res, c.do("POST", "/v1/bridges/"+url.PathEscape(bridge)+"/flows/delete", r, &res)
}

// DumpFlows lists rules that match selects (table < 0: every table).
func (c *Client) DumpFlows(bridge, match string, table int) ([]FlowEntry, error) {
	q := url.Values{}
	if match != "" {
		q.Set("match", match)
	}
	if table >= 0 {
		q.Set("table", fmt.Sprint(table))
	}
	var out []FlowEntry
	return out, c.do("GET", "/v1/bridges/"+url.PathEscape(bridge)+"/flows?"+q.Encode(), nil, &out)
}

// Trace traces a frame through a bridge.
func (c *Client) Trace(bridge string, r TraceRequest) (*TraceResult, error) {
	var res TraceResult
	return &res, c.do("POST", "/v1/bridges/"+url.PathEscape(bridge)+"/trace", r, &res)
}

// TraceLive traces the next count frames arriving on port; each trace is
// passed to fn as it comes. ctx bounds the wait.
func (c *Client) TraceLive(ctx context.Context, bridge, port string, count int, fn func(*TraceResult)) error {
	q := url.Values{"port": {port}, "count": {fmt.Sprint(count)}}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://switchyard/v1/bridges/"+url.PathEscape(bridge)+"/trace/live?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	hc := *c.http
	hc.Timeout = 0 // the stream lasts as long as ctx
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{Socket: c.Socket, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		raw, _ := io.ReadAll(resp.Body)
		var eb ErrorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Error != nil {
			eb.Error.Status = resp.StatusCode
			return eb.Error
		}
		return &Error{Status: resp.StatusCode, Code: CodeInternal, Message: string(raw)}
	}
	dec := json.NewDecoder(resp.Body)
	for i := 0; i < count; i++ {
		var tr TraceResult
		if err := dec.Decode(&tr); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("live trace: %w", err)
		}
		fn(&tr)
	}
	return nil
}

// DatapathFlows lists a bridge's decision cache.
func (c *Client) DatapathFlows(bridge string) ([]DatapathFlow, error) {
	var out []DatapathFlow
	return out, c.do("GET", "/v1/bridges/"+url.PathEscape(bridge)+"/dpctl/flows", nil, &out)
}
