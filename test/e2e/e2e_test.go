//go:build e2e

// Package e2e tests the installed chart and the controller against a whole
// cluster: the local one from `make cluster-up` (TestE2E runs the chart's
// own pod on the real node; the reliability and upgrade suites, and TestE2E
// with E2E_HOST_CONTROLLER=1, run the binary on this machine as the chart's
// Deployment configures it, see harness), or a kind cluster with
// E2E_EXTERNAL_CONTROLLER=1 (the chart's own pod runs; scenarios that need
// the stub MCP server on this machine are skipped).
//
//	make e2e      # local cluster
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/test/e2e/harness"
)

// The suites' clients log the apiserver's warnings (unknown fields of the
// hostile policies, for instance) through controller-runtime's logger; the
// tests that care about warnings collect them with their own handler.
func init() { logf.SetLogger(logr.Discard()) }

const (
	stubToken = "e2e-token"
	// Non-default policyDefaults the chart passes to the binary.
	defaultCooldownMinutes = 30
	defaultEventsPerMinute = 7
	defaultLogLines        = 50
	// crashLogLine is in the container's current log (served by kwok from
	// .cache/cluster/pod-logs/current.log).
	crashLogLine = "connecting to database at 127.0.0.1:5432"
)

type suite struct {
	root       string
	kubeconfig string
	cfg        *rest.Config
	kube       kubernetes.Interface
	c          client.Client
	external   bool
	release    string
	releaseNS  string
	workNS     string
	stub       *mcptest.Server
	// ctrl is the controller binary the harness runs; nil when the chart's
	// own pod runs on the real node (realPod).
	ctrl *harness.Controller
	// realPod: the chart's controller runs as a real pod on the real node
	// (realpod_test.go), not as a host process.
	realPod bool
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func randSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setup installs the chart (extraHelm are added to helm install's
// arguments), starts the stub MCP server and the controller binary.
func setup(t *testing.T, extraHelm ...string) *suite {
	t.Helper()
	return setupWith(t, false, extraHelm...)
}

// setupWith is setup; with realPod the chart's own pod runs the controller
// on the real node (hack/cluster/real-node-values.yaml, image from `make
// node-image`) and no host binary is started.
func setupWith(t *testing.T, realPod bool, extraHelm ...string) *suite {
	t.Helper()
	s := &suite{root: repoRoot(), external: os.Getenv("E2E_EXTERNAL_CONTROLLER") == "1"}
	s.realPod = realPod && !s.external
	s.kubeconfig = os.Getenv("KUBECONFIG")
	if s.kubeconfig == "" {
		s.kubeconfig = filepath.Join(s.root, ".cache", "cluster", "kubeconfig")
	}
	_, err := os.Stat(s.kubeconfig)
	require.NoErrorf(t, err, "no kubeconfig at %s: run `make cluster-up` (or `make e2e`, which does)", s.kubeconfig)
	s.cfg, err = clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	require.NoError(t, err)
	s.cfg.UserAgent = "dot-ai-e2e"
	s.kube, err = kubernetes.NewForConfig(s.cfg)
	require.NoError(t, err)
	scheme := kruntime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, v1alpha1.AddToScheme(scheme))
	s.c, err = client.New(s.cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)

	suffix := randSuffix()
	s.release = "e2e"
	s.releaseNS = "dot-ai-e2e-" + suffix
	s.workNS = "apps-e2e-" + suffix
	ctx := t.Context()
	for _, ns := range []string{s.releaseNS, s.workNS} {
		_, err := s.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		for _, ns := range []string{s.workNS, s.releaseNS} {
			_ = s.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	})

	endpoint := os.Getenv("E2E_MCP_ENDPOINT")
	if !s.external {
		s.stub = mcptest.New(mcptest.Options{Token: stubToken})
		require.NoError(t, s.stub.Start("127.0.0.1:0"))
		t.Cleanup(func() { _ = s.stub.Close() })
		endpoint = s.stub.BaseURL()
	}
	if endpoint == "" {
		endpoint = "http://127.0.0.1:3456"
	}
	install := []string{"install", s.release, filepath.Join(s.root, "charts", "dot-ai-controller"),
		"--namespace", s.releaseNS, "--wait", "--timeout", "120s", "--take-ownership",
		"--set", "mcp.endpoint=" + endpoint,
		"--set", "mcp.authToken=" + stubToken,
		"--set", "leaderElection.leaseDuration=5s,leaderElection.renewDeadline=3s,leaderElection.retryPeriod=1s",
		"--set", fmt.Sprintf("policyDefaults.cooldownMinutes=%d", defaultCooldownMinutes),
		"--set", fmt.Sprintf("policyDefaults.eventsPerMinute=%d", defaultEventsPerMinute),
		"--set", fmt.Sprintf("policyDefaults.logLines=%d", defaultLogLines),
		"--set", "logLevel=debug",
		// Scenarios send far more events than the default analysis budget
		// admits, and the hostile-input catalogue is about other rules than
		// the mode and risk caps: the guardrails have their own tests
		// (internal/policy, internal/delivery/guard, internal/webhook).
		"--set", "guardrails.budget.callsPerHour=1000000,guardrails.budget.namespaceCallsPerHour=1000000",
		"--set", "guardrails.automaticModeNamespaces={*},guardrails.maxRiskLevel.default=high",
		// The storms leave thousands of proposals undecided in one namespace;
		// the suites count deliveries, not the proposal cap (tested in
		// internal/watcher).
		"--set", "remediations.maxOpenPerNamespace=100000",
	}
	switch {
	case s.realPod:
		install = append(install, "--values", filepath.Join(s.root, realNodeValuesFile), "--set", "replicaCount=1")
	case !s.external:
		install = append(install, "--values", filepath.Join(s.root, kwokPlacementFile))
	}
	s.helm(t, append(install, extraHelm...)...)
	t.Cleanup(func() {
		out, err := s.helmOut("uninstall", s.release, "--namespace", s.releaseNS, "--wait", "--timeout", "60s")
		if err != nil {
			t.Logf("helm uninstall: %v\n%s", err, out)
		}
	})
	if !s.external && !s.realPod {
		bin := controllerBinary(s.root)
		_, err := os.Stat(bin)
		require.NoErrorf(t, err, "%s missing: run `make build`", bin)
		logw := &testLogWriter{t: t}
		s.ctrl, err = harness.Start(ctx, harness.Options{
			Config: s.cfg, Namespace: s.releaseNS, Release: s.release, Binary: bin,
			WorkDir: t.TempDir(), Log: logw,
		})
		require.NoError(t, err, "running the controller as the Deployment configures it")
		t.Cleanup(func() {
			logw.stop()
			assert.NoError(t, s.ctrl.Stop())
		})
	}
	s.waitWebhookServing(t)
	return s
}

// testLogWriter forwards the binary's output to t.Log while the test runs
// and when E2E_VERBOSE=1.
type testLogWriter struct {
	t       *testing.T
	stopped bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	if !w.stopped && os.Getenv("E2E_VERBOSE") == "1" {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
func (w *testLogWriter) stop() { w.stopped = true }

func (s *suite) helm(t *testing.T, args ...string) {
	t.Helper()
	out, err := s.helmOut(args...)
	require.NoErrorf(t, err, "helm %s:\n%s", strings.Join(args, " "), out)
}

func (s *suite) helmOut(args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.root, "bin", "helm"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.kubeconfig)
	return cmd.CombinedOutput()
}

// kubectl runs bin/kubectl with stdin and returns its combined output.
func (s *suite) kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(s.root, "bin", "kubectl"), append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitWebhookServing waits until the apiserver can call the webhooks with
// the CA cert-manager injected: a server-side dry-run create succeeds.
func (s *suite) waitWebhookServing(t *testing.T) {
	t.Helper()
	policy := fmt.Sprintf(`apiVersion: remediation.dot-ai.io/v1alpha1
kind: RemediationPolicy
metadata: {name: probe, namespace: %s}
spec:
  eventSelectors: [{type: Warning, reason: BackOff}]
`, s.workNS)
	var last string
	require.Eventually(t, func() bool {
		out, err := s.kubectl(policy, "create", "--dry-run=server", "-f", "-")
		last = out
		return err == nil
	}, 90*time.Second, 500*time.Millisecond, "webhooks never served a dry-run create; last output: %s", &last)
}

// TestE2E runs the controller as the chart's own pod on the real node (the
// image of `make node-image`); E2E_HOST_CONTROLLER=1 runs the binary on this
// machine through the harness instead (no image needed).
func TestE2E(t *testing.T) {
	s := setupWith(t, os.Getenv("E2E_HOST_CONTROLLER") != "1",
		// A held event is retried within seconds once the endpoint is back
		// (the slow-crash scenario); the chart default (30s) is for real outages.
		"--set", "mcp.breakerCooldown=5s")
	t.Run("controller runs as the chart's pod on the real node", s.testControllerPod)
	t.Run("loopback only", s.testLoopback)
	t.Run("invalid policy rejected with field errors", s.testInvalidRejected)
	t.Run("minimal policy defaulted from chart values", s.testDefaulted)
	t.Run("crash loop yields one enriched request then cooldown holds", s.testCrashLoop)
	t.Run("the analysis is approved with the plugin and executed once", s.testApproval)
	t.Run("real crash loop and OOM kill on the real node reach the stub with their logs", s.testRealNode)
	t.Run("slow real crash: the previous container's lines after the restart", s.testSlowCrash)
	t.Run("certificate rotation without restart", s.testCertRotation)
}

// testLoopback asserts the cluster's configured ranges and every address the
// suite touches are loopback, and that the controller process has no
// socket outside 127.0.0.0/8.
func (s *suite) testLoopback(t *testing.T) {
	if s.external {
		t.Skip("kind cluster: ranges belong to kind")
	}
	ctx := t.Context()
	_, svcNet, _ := net.ParseCIDR("127.0.1.0/24")
	_, podNet, _ := net.ParseCIDR("127.0.2.0/24")
	host := strings.TrimPrefix(s.cfg.Host, "https://")
	h, _, err := net.SplitHostPort(host)
	require.NoError(t, err)
	assert.True(t, net.ParseIP(h).IsLoopback(), "apiserver %s", s.cfg.Host)

	k, err := s.kube.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, svcNet.Contains(net.ParseIP(k.Spec.ClusterIP)), "service range: kubernetes Service has %s", k.Spec.ClusterIP)
	svcs, err := s.kube.CoreV1().Services(s.releaseNS).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, svcs.Items)
	for _, svc := range svcs.Items {
		assert.True(t, svcNet.Contains(net.ParseIP(svc.Spec.ClusterIP)), "Service %s ClusterIP %s", svc.Name, svc.Spec.ClusterIP)
	}
	nodes, err := s.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, nodes.Items)
	for _, n := range nodes.Items {
		// The real node has no pod range: its pods have only lo and report
		// 127.0.0.1 (docs/local-cluster.md).
		if n.Spec.PodCIDR != "" || n.Labels["type"] == "kwok" {
			_, cidr, err := net.ParseCIDR(n.Spec.PodCIDR)
			require.NoError(t, err, "node %s podCIDR", n.Name)
			assert.Equal(t, podNet.String(), cidr.String(), "node %s pod CIDR", n.Name)
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
				assert.True(t, net.ParseIP(a.Address).IsLoopback(), "node %s address %s", n.Name, a.Address)
			}
		}
	}
	pods, err := s.kube.CoreV1().Pods(s.releaseNS).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pods.Items {
		switch {
		case p.Status.PodIP == "":
		case p.Spec.HostNetwork: // the real node's IP
			assert.True(t, net.ParseIP(p.Status.PodIP).IsLoopback(), "hostNetwork pod %s IP %s", p.Name, p.Status.PodIP)
		default:
			assert.True(t, podNet.Contains(net.ParseIP(p.Status.PodIP)), "pod %s IP %s", p.Name, p.Status.PodIP)
		}
	}
	bad, err := harness.NonLoopbackSockets(s.controllerPID(t))
	require.NoError(t, err)
	assert.Empty(t, bad, "controller sockets outside loopback")
	if _, err := os.Stat(clusterBin(s.root)); err == nil {
		out, err := exec.Command(clusterBin(s.root), "status", "--dir", filepath.Join(s.root, ".cache", "cluster")).CombinedOutput()
		assert.NoErrorf(t, err, "cluster processes use non-loopback sockets:\n%s", out)
	}
}

func (s *suite) testInvalidRejected(t *testing.T) {
	tests := map[string]struct {
		spec   string
		fields []string
	}{
		"invalid CEL and RE2": {
			spec: `  eventSelectors:
  - reason: BackOff
    expression: "event.reason =="
    message: "("`,
			fields: []string{"spec.eventSelectors[0].expression", "spec.eventSelectors[0].message"},
		},
		"endpoint outside the allow-list without its own Secret": {
			spec: `  eventSelectors: [{reason: BackOff}]
  mcpEndpoint: http://127.0.0.9:3456`,
			fields: []string{"spec.mcpEndpoint"},
		},
		"no selectors": {
			spec:   `  eventSelectors: []`,
			fields: []string{"spec.eventSelectors"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc := fmt.Sprintf("apiVersion: remediation.dot-ai.io/v1alpha1\nkind: RemediationPolicy\nmetadata: {name: invalid, namespace: %s}\nspec:\n%s\n", s.workNS, tc.spec)
			out, err := s.kubectl(doc, "apply", "-f", "-")
			require.Errorf(t, err, "apply of an invalid policy succeeded:\n%s", out)
			assert.Contains(t, out, "is invalid")
			for _, f := range tc.fields {
				assert.Contains(t, out, f)
			}
			err = s.c.Get(t.Context(), client.ObjectKey{Namespace: s.workNS, Name: "invalid"}, &v1alpha1.RemediationPolicy{})
			assert.True(t, apierrors.IsNotFound(err), "nothing persisted: %v", err)
		})
	}
}

func (s *suite) testDefaulted(t *testing.T) {
	doc := fmt.Sprintf(`apiVersion: remediation.dot-ai.io/v1alpha1
kind: RemediationPolicy
metadata: {name: minimal, namespace: %s}
spec:
  eventSelectors: [{type: Warning, reason: FailedMount}]
`, s.workNS)
	out, err := s.kubectl(doc, "apply", "-f", "-")
	require.NoErrorf(t, err, "%s", out)
	t.Cleanup(func() {
		_, _ = s.kubectl("", "delete", "remediationpolicy", "minimal", "-n", s.workNS, "--ignore-not-found")
	})
	var p v1alpha1.RemediationPolicy
	require.NoError(t, s.c.Get(t.Context(), client.ObjectKey{Namespace: s.workNS, Name: "minimal"}, &p))
	assert.Equal(t, v1alpha1.RemediationMode("manual"), p.Spec.Mode)
	require.NotNil(t, p.Spec.RateLimiting)
	require.NotNil(t, p.Spec.RateLimiting.CooldownMinutes)
	assert.EqualValues(t, defaultCooldownMinutes, *p.Spec.RateLimiting.CooldownMinutes, "cooldown from the chart's policyDefaults")
	require.NotNil(t, p.Spec.RateLimiting.EventsPerMinute)
	assert.EqualValues(t, defaultEventsPerMinute, *p.Spec.RateLimiting.EventsPerMinute)
	require.NotNil(t, p.Spec.ContextGathering)
	require.NotNil(t, p.Spec.ContextGathering.LogLines)
	assert.EqualValues(t, defaultLogLines, *p.Spec.ContextGathering.LogLines)
	assert.Empty(t, p.Spec.McpEndpoint, "the installation endpoint is never copied into a policy")
}

func (s *suite) testCrashLoop(t *testing.T) {
	if s.external {
		t.Skip("needs the stub MCP server on this machine")
	}
	ctx := t.Context()
	policy := fmt.Sprintf(`apiVersion: remediation.dot-ai.io/v1alpha1
kind: RemediationPolicy
metadata: {name: crashloops, namespace: %s}
spec:
  eventSelectors:
  - type: Warning
    reason: BackOff
    involvedObjectKind: Pod
`, s.workNS)
	out, err := s.kubectl(policy, "apply", "-f", "-")
	require.NoErrorf(t, err, "%s", out)
	before := s.stub.Count()

	replicas := int32(1)
	labels := map[string]string{"app": "checkout-api"}
	podLabels := map[string]string{"app": "checkout-api", "crashloop.kwok.dot-ai.io/enabled": "true"}
	_, err = s.kube.AppsV1().Deployments(s.workNS).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout-api"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec:       s.onKwok(t, corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "localhost/checkout-api:1.4.2"}}}),
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// Exactly one enriched request, with the pod's (previous) logs.
	require.Eventually(t, func() bool { return s.stub.Count() > before }, 90*time.Second, 250*time.Millisecond,
		"no request reached the stub MCP server; controller log: %s", s.controllerLog())
	reqs := s.stub.Requests()
	require.Len(t, reqs, before+1)
	got := reqs[len(reqs)-1]
	assert.Equal(t, "Bearer "+stubToken, got.Header.Get("Authorization"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(got.Body, &body))
	assert.Equal(t, "manual", body["mode"])
	assert.Contains(t, body["issue"], "BackOff")
	assert.Contains(t, body["issue"], "checkout-api")
	assert.Contains(t, string(got.Body), crashLogLine, "the crash-looping pod's logs (served by kwok) are in the request")
	// The product spec's request shape (docs/request.md).
	var shape struct {
		Policy  string `json:"policy"`
		Context struct {
			Event struct {
				InvolvedObject struct{ Kind, Name, Namespace string } `json:"involvedObject"`
			} `json:"event"`
			Logs []string `json:"logs"`
		} `json:"context"`
	}
	require.NoError(t, json.Unmarshal(got.Body, &shape), "context.event.involvedObject is an object and context.logs a list of lines")
	assert.Equal(t, "crashloops", shape.Policy)
	assert.Equal(t, "Pod", shape.Context.Event.InvolvedObject.Kind)
	assert.Equal(t, s.workNS, shape.Context.Event.InvolvedObject.Namespace)
	assert.Contains(t, strings.Join(shape.Context.Logs, "\n"), crashLogLine)

	// The kubelet-like back-off keeps emitting BackOff (the Event's count
	// grows); cooldown holds every repeat back.
	podSel := fields.OneTermEqualSelector("reason", "BackOff").String()
	var count int32
	require.Eventually(t, func() bool {
		evs, err := s.kube.CoreV1().Events(s.workNS).List(ctx, metav1.ListOptions{FieldSelector: podSel})
		if err != nil || len(evs.Items) == 0 {
			return false
		}
		count = evs.Items[0].Count
		return count >= 4
	}, 60*time.Second, 500*time.Millisecond, "BackOff events did not repeat")
	var p v1alpha1.RemediationPolicy
	require.Eventually(t, func() bool {
		if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.workNS, Name: "crashloops"}, &p); err != nil {
			return false
		}
		return p.Status.CooledDownEvents >= 1 && p.Status.AnalysesCompleted >= 1
	}, 30*time.Second, 500*time.Millisecond, "status never showed the analysis and cooled-down repeats: %+v", &p.Status)
	assert.Equal(t, before+1, s.stub.Count(), "cooldown: repeats of the BackOff event send nothing")

	// Status, conditions and Kubernetes Events show the outcome.
	ready := findCondition(p.Status.Conditions, v1alpha1.ConditionReady)
	require.NotNil(t, ready, "Ready condition")
	assert.Equal(t, metav1.ConditionTrue, ready.Status)
	assert.Equal(t, s.stub.BaseURL(), strings.TrimSuffix(p.Status.EffectiveMcpEndpoint, mcptest.RemediatePath), "effective endpoint in status")
	require.NotEmpty(t, p.Status.RecentOutcomes)
	assert.GreaterOrEqual(t, p.Status.TotalEventsProcessed, int64(1))
	require.Eventually(t, func() bool {
		evs, err := s.kube.CoreV1().Events(s.workNS).List(ctx, metav1.ListOptions{
			FieldSelector: fields.AndSelectors(
				fields.OneTermEqualSelector("involvedObject.kind", "RemediationPolicy"),
				fields.OneTermEqualSelector("involvedObject.name", "crashloops"),
			).String(),
		})
		return err == nil && len(evs.Items) > 0
	}, 30*time.Second, 500*time.Millisecond, "no Kubernetes Event on the policy")

	// Metrics (secure: a token bound to the chart's metrics-reader role).
	metrics := s.scrape(t)
	for _, name := range []string{"dotai_deliveries_total", "dotai_events_cooled_down_total", "dotai_events_selected_total"} {
		assert.Truef(t, metricPositive(metrics, name), "metric %s > 0 in:\n%s", name, grep(metrics, "dotai_"))
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.metricsURL(t), http.NoBody)
	resp, err := insecureClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "metrics without a token are refused")
}

func findCondition(cs []metav1.Condition, t string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

func insecureClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

func (s *suite) scrape(t *testing.T) string {
	t.Helper()
	metricsURL := s.metricsURL(t)
	require.NotEmpty(t, metricsURL, "metrics are enabled in the chart")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, metricsURL, http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.scraperToken(t))
	resp, err := insecureClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equalf(t, http.StatusOK, resp.StatusCode, "%s", body)
	return string(body)
}

// scraperToken binds the chart's metrics-reader ClusterRole to a scraper
// ServiceAccount (as one would for Prometheus) and returns its token.
func (s *suite) scraperToken(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	roles, err := s.kube.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + s.release})
	require.NoError(t, err)
	var role string
	for _, r := range roles.Items {
		if strings.HasSuffix(r.Name, "-metrics-reader") {
			role = r.Name
		}
	}
	require.NotEmpty(t, role, "the chart's metrics-reader ClusterRole")
	_, err = s.kube.CoreV1().ServiceAccounts(s.workNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "metrics-scraper"}}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: s.workNS + "-metrics-scraper"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "metrics-scraper", Namespace: s.workNS}},
	}
	_, err = s.kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		_ = s.kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), crb.Name, metav1.DeleteOptions{})
	})
	tr, err := s.kube.CoreV1().ServiceAccounts(s.workNS).CreateToken(ctx, "metrics-scraper", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tr.Status.Token
}

func grep(text, prefix string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// metricPositive reports whether any sample of the metric is > 0.
func metricPositive(text, name string) bool {
	for l := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		f := strings.Fields(l)
		if len(f) >= 2 && f[len(f)-1] != "0" {
			return true
		}
	}
	return false
}

// testCertRotation deletes the webhook certificate's Secret; cert-manager
// issues a new one, the kubelet (or the harness, doing what the kubelet
// does) rewrites the mounted directory, and the same controller process
// serves the new certificate and keeps admitting policies.
func (s *suite) testCertRotation(t *testing.T) {
	if s.external {
		t.Skip("needs the forwarded webhook Service on this machine")
	}
	ctx := t.Context()
	svcName, addr := s.webhookService(t)
	require.NotEmpty(t, addr, "the webhook Service's address")
	serverName := svcName + "." + s.releaseNS + ".svc"
	before := servedSerial(t, addr, serverName)
	pid := s.controllerPID(t)
	var writes int
	var container containerState
	if s.ctrl != nil {
		writes = s.ctrl.Writes("webhook-cert")
		require.NotEmpty(t, s.ctrl.VolumeDir("webhook-cert"))
	} else {
		container = s.controllerContainer(t)
	}

	var secretName string
	secrets, err := s.kube.CoreV1().Secrets(s.releaseNS).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, sec := range secrets.Items {
		if sec.Type == corev1.SecretTypeTLS && sec.Annotations["cert-manager.io/certificate-name"] != "" {
			secretName = sec.Name
		}
	}
	require.NotEmpty(t, secretName, "the cert-manager Secret")
	require.NoError(t, s.kube.CoreV1().Secrets(s.releaseNS).Delete(ctx, secretName, metav1.DeleteOptions{}))

	if s.ctrl != nil {
		require.Eventually(t, func() bool { return s.ctrl.Writes("webhook-cert") > writes }, 60*time.Second, 250*time.Millisecond,
			"cert-manager did not re-issue the Secret (or the harness did not rewrite it)")
	}
	// The kubelet rewrites the volume at the pod's next sync (every 10 s on
	// the local cluster's real node).
	require.Eventually(t, func() bool {
		serial := servedSerialOrEmpty(addr, serverName)
		return serial != "" && serial != before
	}, 90*time.Second, 250*time.Millisecond, "the controller still serves the old certificate")
	if s.ctrl != nil {
		select {
		case <-s.ctrl.Exited():
			t.Fatal("controller exited during rotation")
		default:
		}
	} else {
		assert.Equal(t, container, s.controllerContainer(t), "the same container, not restarted")
	}
	assert.Equal(t, pid, s.controllerPID(t), "no restart")
	// The apiserver trusts the new certificate once cainjector updated the
	// caBundle; admission keeps working.
	s.waitWebhookServing(t)
	out, err := s.kubectl(fmt.Sprintf("apiVersion: remediation.dot-ai.io/v1alpha1\nkind: RemediationPolicy\nmetadata: {name: after-rotation, namespace: %s}\nspec:\n  eventSelectors: []\n", s.workNS), "apply", "-f", "-")
	require.Error(t, err, "validation still enforced after rotation: %s", out)
	assert.Contains(t, out, "spec.eventSelectors")
}

func servedSerial(t *testing.T, addr, serverName string) string {
	t.Helper()
	serial := servedSerialOrEmpty(addr, serverName)
	require.NotEmpty(t, serial, "TLS handshake with the webhook at %s", addr)
	return serial
}

func servedSerialOrEmpty(addr, serverName string) string {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
	if err != nil {
		return ""
	}
	// Only the handshake's certificate is wanted: a failed close loses nothing.
	defer func() { _ = conn.Close() }()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return ""
	}
	var b bytes.Buffer
	b.WriteString(certs[0].SerialNumber.String())
	return b.String()
}
