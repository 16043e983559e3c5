package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

type netConn = net.Conn

func dialUnix(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// fsyncLatency measures fdatasync of a 4 KiB write in dir (the disk etcd
// syncs to).
func fsyncLatency(dir string, n int) (p50, p99 time.Duration, err error) {
	f, err := os.CreateTemp(dir, "fsync-probe")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var l []time.Duration
	for i := 0; i < n; i++ {
		if _, err := f.WriteAt(buf, int64(i%64)*4096); err != nil {
			return 0, 0, err
		}
		t := time.Now()
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return 0, 0, err
		}
		l = append(l, time.Since(t))
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[n/2], l[n*99/100], nil
}

var _ = filepath.Join

// loadavg is the machine's load (the benchmark shares 2 cores).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
