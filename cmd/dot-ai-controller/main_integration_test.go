package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"dot-ai.io/controller/internal/testenv"
)

// TestBinaryAgainstRealAPIServer runs the whole binary (flags, manager,
// webhook server, health checks, leader election) in-process against a real
// kube-apiserver, then shuts it down as SIGTERM would.
func TestBinaryAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := t.Context()
	require.NoError(t, env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dot-ai"}}))

	user, err := env.AddUser(envtest.User{Name: "controller", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	kubeconfig, err := user.KubeConfig()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600))
	certDir := filepath.Join(dir, "certs")
	testenv.WriteServingCert(t, certDir)

	probePort, webhookPort := testenv.FreePort(t), testenv.FreePort(t)
	o, err := parseFlags([]string{
		"--kubeconfig=" + filepath.Join(dir, "kubeconfig"),
		"--namespace=dot-ai",
		"--metrics-bind-address=0",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		"--webhook-host=127.0.0.1",
		fmt.Sprintf("--webhook-port=%d", webhookPort),
		"--webhook-cert-dir=" + certDir,
		"--mcp-endpoint=http://127.0.0.1:1/api/v1/tools/remediate",
		"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s",
		"--drain-timeout=1s", "--graceful-shutdown-timeout=11s",
	}, func(string) (string, bool) { return "", false })
	require.NoError(t, err)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, o) }()
	t.Cleanup(stop)

	probe := func(path string) int {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", probePort, path))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return probe("/readyz") == http.StatusOK }, 30*time.Second, 100*time.Millisecond, "readyz")
	assert.Equal(t, http.StatusOK, probe("/healthz"))

	// Readiness means the webhook server serves TLS 1.2+ from the cert dir.
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", webhookPort), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}) //nolint:gosec // probing that old TLS is refused
	if err == nil {
		conn.Close()
	}
	require.Error(t, err, "TLS 1.1 must be refused")
	conn, err = tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", webhookPort), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}) //nolint:gosec // self-signed test cert
	require.NoError(t, err)
	assert.Equal(t, "http/1.1", conn.ConnectionState().NegotiatedProtocol, "HTTP/2 is off by default")
	conn.Close()

	// Leader election holds a Lease in the controller's namespace.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		lease := &coordinationv1.Lease{}
		assert.NoError(c, env.Client.Get(ctx, client.ObjectKey{Namespace: "dot-ai", Name: "dot-ai-controller.remediation.dot-ai.io"}, lease))
		assert.NotNil(c, lease.Spec.HolderIdentity)
	}, 30*time.Second, 200*time.Millisecond)

	stop()
	select {
	case err := <-done:
		assert.NoError(t, err, "graceful shutdown")
	case <-time.After(20 * time.Second):
		t.Fatal("controller did not stop within its graceful shutdown timeout")
	}
}
