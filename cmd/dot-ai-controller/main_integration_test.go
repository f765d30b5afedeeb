package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/internal/testenv"
)

// TestBinaryAgainstRealAPIServer runs the whole binary (flags, manager,
// webhook server, health checks, leader election) in-process against a real
// kube-apiserver, then shuts it down as SIGTERM would.
func TestBinaryAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := t.Context()
	certDir := filepath.Join(t.TempDir(), "certs")
	testenv.WriteServingCert(t, certDir)
	webhookPort := testenv.FreePort(t)
	probePort, stop := startController(t, env,
		fmt.Sprintf("--webhook-port=%d", webhookPort),
		"--webhook-cert-dir="+certDir,
		"--mcp-endpoint=http://127.0.0.1:1/api/v1/tools/remediate",
		"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s",
	)

	probe := func(path string) int {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", probePort, path))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, probe("/healthz"))

	// Readiness means the webhook server serves TLS 1.2+ from the cert dir.
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", webhookPort), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}) //nolint:gosec // probing that old TLS is refused
	if err == nil {
		assert.NoError(t, conn.Close())
	}
	require.Error(t, err, "TLS 1.1 must be refused")
	conn, err = tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", webhookPort), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}) //nolint:gosec // self-signed test cert
	require.NoError(t, err)
	assert.Equal(t, "http/1.1", conn.ConnectionState().NegotiatedProtocol, "HTTP/2 is off by default")
	require.NoError(t, conn.Close())

	// Leader election holds a Lease in the controller's namespace.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		lease := &coordinationv1.Lease{}
		assert.NoError(c, env.Client.Get(ctx, client.ObjectKey{Namespace: "dot-ai", Name: "dot-ai-controller.remediation.dot-ai.io"}, lease))
		assert.NotNil(c, lease.Spec.HolderIdentity)
	}, 30*time.Second, 200*time.Millisecond)

	assert.NoError(t, stop(), "graceful shutdown")
}
