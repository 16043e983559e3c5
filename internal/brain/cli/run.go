package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// ServiceBinary is the brain service's own binary (it carries the embedded
// etcd, which the switchyard binary does not).
const ServiceBinary = "switchyard-brain"

// runService replaces this process with switchyard-brain, found next to
// the running binary or on PATH.
func runService(args []string) error {
	path := ""
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), ServiceBinary); isExec(p) {
			path = p
		}
	}
	if path == "" {
		p, err := exec.LookPath(ServiceBinary)
		if err != nil {
			return usagef("brain run: %s is not installed next to this binary or on PATH (build it with `go build ./cmd/switchyard-brain`)", ServiceBinary)
		}
		path = p
	}
	if err := syscall.Exec(path, append([]string{path}, args...), os.Environ()); err != nil {
		return fmt.Errorf("brain run: exec %s: %w", path, err)
	}
	return nil
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
