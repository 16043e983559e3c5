package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/switchyard-net/switchyard/internal/vswitchd"
)

// buildCommit and buildTime may be set at link time
// (-ldflags "-X main.buildCommit=$(git rev-parse HEAD) -X main.buildTime=…")
// for builds without VCS stamping (-buildvcs=false).
var buildCommit, buildTime string

// versionInfo is what `switchyard version --json` says was built.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	CommitAt  string `json:"commit_time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CGO       bool   `json:"cgo"`
	Module    string `json:"module,omitempty"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: vswitchd.Version, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		Commit: buildCommit, CommitAt: buildTime}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Module = bi.Main.Path
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if v.CommitAt == "" {
					v.CommitAt = s.Value
				}
			case "vcs.modified":
				v.Modified = s.Value == "true"
			case "CGO_ENABLED":
				v.CGO = s.Value == "1"
			}
		}
	}
	return v
}

// cmdVersion runs `switchyard version [--json]`.
func cmdVersion(argv []string, out io.Writer) error {
	p, err := parse("version", argv, flagSpec{})
	if err != nil {
		return err
	}
	if err := p.want(0, 0, "[--json]"); err != nil {
		return err
	}
	if p.set["json"] {
		return printJSON(out, buildVersion())
	}
	fmt.Fprintln(out, "switchyard", vswitchd.Version)
	return nil
}
