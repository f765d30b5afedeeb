package harness

import (
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"dot-ai.io/controller/internal/config"
)

// ports hands out 40001, 40002, … in order, so expectations are exact.
func ports() func() (int, error) {
	next := 40000
	return func() (int, error) { next++; return next, nil }
}

func TestRewriteArgs(t *testing.T) {
	const kubeconfig = "/work/sa.kubeconfig"
	tail := []string{"--webhook-host=127.0.0.1", "--kubeconfig=" + kubeconfig}
	tests := map[string]struct {
		source     []string
		env        map[string]string
		mounts     []mount
		want       localArgs
		errMessage string
	}{
		"chart listeners move to loopback ports": {
			source: []string{"--metrics-bind-address=:8443", "--health-probe-bind-address=:8081", "--webhook-port=9443", "--leader-elect=true"},
			want: localArgs{
				args: append([]string{"--metrics-bind-address=127.0.0.1:40001", "--health-probe-bind-address=127.0.0.1:40002",
					"--webhook-port=40003", "--leader-elect=true"}, tail...),
				ports:      map[int32]int{8443: 40001, 8081: 40002, 9443: 40003},
				healthURL:  "http://127.0.0.1:40002",
				metricsURL: "https://127.0.0.1:40001/metrics",
			},
		},
		"unset listeners get the binary's default ports": {
			source: []string{"--leader-elect=false"},
			want: localArgs{
				args:      append([]string{"--leader-elect=false", "--webhook-port=40001", "--health-probe-bind-address=127.0.0.1:40002"}, tail...),
				ports:     map[int32]int{config.DefaultWebhookPort: 40001, config.DefaultHealthProbePort: 40002},
				healthURL: "http://127.0.0.1:40002",
			},
		},
		"metrics off stays off": {
			source: []string{"--metrics-bind-address=0", "--health-probe-bind-address=:8081", "--webhook-port=9443"},
			want: localArgs{
				args:      append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:40001", "--webhook-port=40002"}, tail...),
				ports:     map[int32]int{8081: 40001, 9443: 40002},
				healthURL: "http://127.0.0.1:40001",
			},
		},
		"env references expanded and mount paths moved": {
			source: []string{"--namespace=$(POD_NAMESPACE)", "--webhook-cert-dir=/tmp/certs", "--mcp-token-file=/etc/token/token", "--unknown=$(MISSING)"},
			env:    map[string]string{"POD_NAMESPACE": "dot-ai"},
			mounts: []mount{{path: "/tmp/certs", localDir: "/work/volumes/certs"}, {path: "/etc/token", localDir: "/work/volumes/token"}},
			want: localArgs{
				args: append([]string{"--namespace=dot-ai", "--webhook-cert-dir=/work/volumes/certs", "--mcp-token-file=/work/volumes/token/token",
					"--unknown=$(MISSING)", "--webhook-port=40001", "--health-probe-bind-address=127.0.0.1:40002"}, tail...),
				ports:     map[int32]int{9443: 40001, 8081: 40002},
				healthURL: "http://127.0.0.1:40002",
			},
		},
		"the chart's host and kubeconfig are replaced": {
			source: []string{"--webhook-host=0.0.0.0", "--kubeconfig=/in/cluster", "-v", "positional"},
			want: localArgs{
				args:      append([]string{"-v", "positional", "--webhook-port=40001", "--health-probe-bind-address=127.0.0.1:40002"}, tail...),
				ports:     map[int32]int{9443: 40001, 8081: 40002},
				healthURL: "http://127.0.0.1:40002",
			},
		},
		"single dash flags count": {
			source: []string{"-health-probe-bind-address=:9000", "-webhook-port=9500"},
			want: localArgs{
				args:      append([]string{"--health-probe-bind-address=127.0.0.1:40001", "--webhook-port=40002"}, tail...),
				ports:     map[int32]int{9000: 40001, 9500: 40002},
				healthURL: "http://127.0.0.1:40001",
			},
		},
		"bad bind address": {
			source:     []string{"--metrics-bind-address=8443"},
			errMessage: "metrics-bind-address",
		},
		"bad webhook port": {
			source:     []string{"--webhook-port=https"},
			errMessage: "webhook-port",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := rewriteArgs(tc.source, tc.env, tc.mounts, kubeconfig, ports())
			checkCase(t, tc.want, got, tc.errMessage, err)
		})
	}
}

func TestRewriteArgsPortError(t *testing.T) {
	_, err := rewriteArgs(nil, nil, nil, "k", func() (int, error) { return 0, errors.New("no ports left") })
	require.EqualError(t, err, "no ports left")
}

func TestContainerArgs(t *testing.T) {
	tests := map[string]struct {
		command, args, want []string
	}{
		"args only":             {args: []string{"--a=1"}, want: []string{"--a=1"}},
		"executable dropped":    {command: []string{"/manager"}, args: []string{"--a=1"}, want: []string{"--a=1"}},
		"command args go first": {command: []string{"/manager", "--b=2"}, args: []string{"--a=1"}, want: []string{"--b=2", "--a=1"}},
		"nothing":               {want: []string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, containerArgs(corev1.Container{Command: tc.command, Args: tc.args}))
		})
	}
}

func TestArg(t *testing.T) {
	assert.Equal(t, "--concurrency=200", Arg(config.FlagConcurrency, 200))
	assert.Equal(t, "--leader-elect-lease-duration=15s", Arg(config.FlagLeaderElectLeaseDuration, "15s"))
}

func TestFreePortIsLoopbackAndFree(t *testing.T) {
	p, err := freePort()
	require.NoError(t, err)
	assert.Positive(t, p)
	l, err := net.Listen("tcp", loopback(p))
	require.NoError(t, err, "the port is free on 127.0.0.1")
	require.NoError(t, l.Close())
}
