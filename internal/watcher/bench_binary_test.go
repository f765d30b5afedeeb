package watcher

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/internal/testenv"
)

// buildController builds the production binary (cmd/dot-ai-controller), so
// the memory benchmark also measures what users run: the watcher child is a
// test binary, with test code and symbols.
func buildController(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "dot-ai-controller")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../../cmd/dot-ai-controller") // as make build
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(b, err, "%s", out)
	return bin
}

// binaryMemory runs the controller binary with its defaults (webhooks
// served, every informer, --gc-percent 50) against the apiserver of
// kubeconfig until its event watcher started plus 2 s, and returns its peak
// RSS and its anonymous and file-backed RSS then, in KiB.
func binaryMemory(b *testing.B, bin, kubeconfig string) (hwm, anon, file float64) {
	dir := b.TempDir()
	testenv.WriteServingCert(b, dir)
	require.NoError(b, os.WriteFile(filepath.Join(dir, "token"), []byte("bench"), 0o600))
	cmd := exec.Command(bin, "--kubeconfig="+kubeconfig, "--namespace=dot-ai", "--metrics-bind-address=0",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", testenv.FreePort(b)), "--webhook-host=127.0.0.1",
		fmt.Sprintf("--webhook-port=%d", testenv.FreePort(b)), "--webhook-cert-dir="+dir,
		"--mcp-endpoint=http://127.0.0.1:9/api/v1/tools/remediate", "--mcp-token-file="+filepath.Join(dir, "token"),
		"--leader-elect=false")
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	require.NoError(b, testenv.DropCachedPages(bin)) // as the storm: the binary's pages read as touched
	errOut, err := cmd.StderrPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errOut)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := false
		for sc.Scan() { // drained to the end, so the binary never blocks on its log
			if !once && strings.Contains(sc.Text(), "Started event watcher") {
				once = true
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(2 * time.Minute):
		b.Fatal("the controller binary did not start its event watcher")
	}
	time.Sleep(2 * time.Second) // as childMemory: the first checkpoint and status writes
	st := procStatus(b, cmd.Process.Pid)
	return st["VmHWM"], st["RssAnon"], st["RssFile"]
}
