package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"dot-ai.io/controller/internal/testenv"
)

// startController creates the controller's namespace, runs the binary's
// run() in-process against env with a kubeconfig, loopback listeners and the
// given extra flags, and waits until /readyz answers. The returned stop
// cancels it as SIGTERM would and returns run's error; it also runs when t
// ends.
func startController(t *testing.T, env *testenv.Env, extra ...string) (probePort int, stop func() error) {
	t.Helper()
	require.NoError(t, env.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dot-ai"}}))
	user, err := env.AddUser(envtest.User{Name: "controller", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	kubeconfig, err := user.KubeConfig()
	require.NoError(t, err)
	return startControllerWith(t, kubeconfig, extra...)
}

// startControllerWith is startController with the given kubeconfig, in an
// existing "dot-ai" namespace.
func startControllerWith(t *testing.T, kubeconfig []byte, extra ...string) (probePort int, stop func() error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, kubeconfig, 0o600))

	probePort = testenv.FreePort(t)
	args := append([]string{
		"--kubeconfig=" + path,
		"--namespace=dot-ai",
		"--metrics-bind-address=0",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		"--webhook-host=127.0.0.1",
		"--drain-timeout=1s", "--graceful-shutdown-timeout=11s",
	}, extra...)
	o, err := parseFlags(args, func(string) (string, bool) { return "", false })
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, o) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(20 * time.Second):
				runErr = fmt.Errorf("controller did not stop within its graceful shutdown timeout")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })

	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "readyz")
	return probePort, stop
}
