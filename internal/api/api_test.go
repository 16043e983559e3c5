package api

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/config"
)

// fake is a Backend that records calls and fails on request.
type fake struct {
	Backend
	bridges []config.Bridge
	fail    error
}

func (f *fake) AddBridge(b config.Bridge) error {
	if f.fail != nil {
		return f.fail
	}
	f.bridges = append(f.bridges, b)
	return nil
}

func (f *fake) Show() *Show { return &Show{Revision: 7} }

func serve(t *testing.T, b Backend) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, sock, b) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	c := NewClient(sock)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Show(); err == nil {
			return c
		} else if time.Now().After(deadline) {
			t.Fatalf("API did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStructuredErrorsAndSuccess(t *testing.T) {
	f := &fake{}
	c := serve(t, f)
	if err := c.AddBridge(config.Bridge{Name: "br0", FDBAging: 60}); err != nil || len(f.bridges) != 1 || f.bridges[0].FDBAging != 60 {
		t.Fatalf("add bridge: %v %+v", err, f.bridges)
	}
	f.fail = &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Field: "fdb-aging", Message: "5", Allowed: "10-1000000 seconds"}
	err := c.AddBridge(config.Bridge{Name: "br1"})
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != CodeInvalid || ae.Field != "fdb-aging" || ae.Allowed == "" {
		t.Fatalf("error came back as %#v", err)
	}
	f.fail = errors.New("disk on fire")
	if err := c.AddBridge(config.Bridge{Name: "br2"}); !errors.As(err, &ae) || ae.Status != 500 || ae.Code != CodeInternal {
		t.Fatalf("internal error came back as %#v", err)
	}
	// Unknown JSON fields and unknown endpoints are refused, with a body.
	if err := c.do("POST", "/v1/bridges", map[string]any{"name": "x", "colour": "red"}, nil); !errors.As(err, &ae) || ae.Code != CodeInvalid {
		t.Fatalf("unknown field: %#v", err)
	}
	if err := c.do("GET", "/v1/nope", nil, nil); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("unknown endpoint: %#v", err)
	}
}

func TestUnreachable(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "missing.sock"))
	_, err := c.Show()
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.Socket != c.Socket {
		t.Fatalf("got %#v", err)
	}
}
