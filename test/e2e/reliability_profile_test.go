//go:build e2e && reliability

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/testenv"
	"dot-ai.io/controller/test/e2e/harness"
)

// heapProfiles is RELIABILITY_PROFILE: when set to a directory, the storm's
// controller serves /debug/pprof on loopback and its heap profile is saved
// there every profileEvery, named by the time and the peak RSS so far,
// to show what the peak holds.
type heapProfiles struct {
	dir, addr string
	wg        sync.WaitGroup
}

const profileEvery = 15 * time.Second

// newHeapProfiles returns nil when RELIABILITY_PROFILE is unset.
func newHeapProfiles(t *testing.T) *heapProfiles {
	dir := os.Getenv("RELIABILITY_PROFILE")
	if dir == "" {
		return nil
	}
	require.NoError(t, os.MkdirAll(dir, 0o750))
	return &heapProfiles{dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
}

// Args are the controller's extra flags.
func (p *heapProfiles) Args() []string {
	if p == nil {
		return nil
	}
	return []string{harness.Arg(config.FlagPprofBindAddress, p.addr)}
}

// Run saves profiles until ctx ends.
func (p *heapProfiles) Run(ctx context.Context, t *testing.T, ctrl *harness.Controller) {
	if p == nil {
		return
	}
	start := time.Now()
	p.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(profileEvery):
			}
			peak, _ := ctrl.PeakRSS()
			name := fmt.Sprintf("heap-%03ds-peak%dMiB.pprof", int(time.Since(start).Seconds()), peak>>20)
			if err := testenv.SaveURL("http://"+p.addr+"/debug/pprof/heap", filepath.Join(p.dir, name)); err != nil {
				t.Logf("Heap profile: %v", err)
			}
			// The text form ends with the runtime's MemStats: heap in use,
			// idle and released, stacks, GC metadata.
			if err := testenv.SaveURL("http://"+p.addr+"/debug/pprof/heap?debug=1", filepath.Join(p.dir, name+".txt")); err != nil {
				t.Logf("Heap profile text: %v", err)
			}
			// The kernel's view: anonymous and file-backed (the binary's
			// pages) resident memory.
			if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ctrl.PID())); err == nil {
				_ = os.WriteFile(filepath.Join(p.dir, name+".status"), status, 0o600)
			}
		}
	})
}

// Wait waits for the last profile.
func (p *heapProfiles) Wait() {
	if p != nil {
		p.wg.Wait()
	}
}
