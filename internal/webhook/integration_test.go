package webhook_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/admitted"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/policy/policytest"
	"dot-ai.io/controller/internal/testenv"
	"dot-ai.io/controller/internal/webhook"
	"dot-ai.io/controller/internal/webhook/webhooktest"
)

// integrationSettings uses policy defaults that differ from the built-in
// ones, so the test proves the defaults come from Settings. Its guardrails
// (policytest's) cap only policytest.GuardedNamespace.
func integrationSettings() *config.Settings {
	s := policytest.Installation()
	s.Defaults = policytest.CustomPolicyDefaults()
	s.Guardrails = policytest.Settings().Guardrails
	return s
}

// warningCollector records the Warning headers the apiserver returns.
type warningCollector struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningCollector) HandleWarningHeader(_ int, _, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

func (w *warningCollector) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.warnings
	w.warnings = nil
	return out
}

type webhookEnv struct {
	client   client.Client
	warnings *warningCollector
	// webhookURL and direct reach the webhook server the way the apiserver
	// does: TLS with envtest's CA, kept-alive connections.
	webhookURL string
	direct     *http.Client
	settings   *config.Settings
	// env is the control plane (AddUser), admin its admin's config.
	env   *testenv.Env
	admin *rest.Config
}

// startWebhookEnv starts a real kube-apiserver whose webhook configurations
// call a manager serving the RemediationPolicy webhooks over TLS on loopback.
// configure, when given, adjusts the webhook before it is set up.
func startWebhookEnv(tb testing.TB, s *config.Settings, configure ...func(*webhook.RemediationPolicyWebhook)) *webhookEnv {
	tb.Helper()
	logf.SetLogger(logr.Discard())
	env := testenv.Start(tb, testenv.Options{Webhooks: testenv.WebhookOptions(webhook.MutatePath, webhook.ValidatePath)})
	wo := env.WebhookInstallOptions

	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	w := &webhook.RemediationPolicyWebhook{Settings: s}
	for _, c := range configure {
		c(w)
	}
	webhooktest.StartWebhookManager(tb, env, cfg, servingTLS(), w.SetupWebhookWithManager)

	warnings := &warningCollector{}
	ccfg := rest.CopyConfig(cfg)
	ccfg.WarningHandler = warnings
	c, err := client.New(ccfg, client.Options{Scheme: testenv.Scheme()})
	require.NoError(tb, err)
	for _, ns := range []string{"dot-ai", "team-a", policytest.GuardedNamespace} {
		require.NoError(tb, c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	pool := x509.NewCertPool()
	require.True(tb, pool.AppendCertsFromPEM(wo.LocalServingCAData))
	direct := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 2,
	}}
	tb.Cleanup(direct.CloseIdleConnections)
	url := "https://" + net.JoinHostPort(wo.LocalServingHost, strconv.Itoa(wo.LocalServingPort))
	return &webhookEnv{client: c, warnings: warnings, webhookURL: url, direct: direct, settings: s, env: env, admin: cfg}
}

// servingTLS is how the binary serves by default (cmd/dot-ai-controller:
// TLS 1.2+, HTTP/1.1 only); WEBHOOK_HTTP2=1 offers HTTP/2 as well, to compare
// in BenchmarkAdmission. It counts TLS handshakes, so the benchmark can show
// that the apiserver reuses its connections.
var tlsHandshakes atomic.Int64

func servingTLS() []func(*tls.Config) {
	return []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS12
		if os.Getenv("WEBHOOK_HTTP2") != "1" {
			c.NextProtos = []string{"http/1.1"}
		}
		c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			tlsHandshakes.Add(1)
			return nil, nil // serve with c itself
		}
	}}
}

func newPolicy(ns, name string, sels ...v1alpha1.EventSelector) *v1alpha1.RemediationPolicy {
	if len(sels) == 0 {
		sels = []v1alpha1.EventSelector{{Type: v1alpha1.EventTypeWarning, Reason: "BackOff"}}
	}
	return &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1alpha1.RemediationPolicySpec{EventSelectors: sels},
	}
}

type cause struct {
	Type  metav1.CauseType
	Field string
}

func causesOf(t *testing.T, err error) []cause {
	t.Helper()
	var status apierrors.APIStatus
	require.True(t, errors.As(err, &status), "not an API status error: %v", err)
	require.NotNil(t, status.Status().Details, "status has no details: %v", err)
	var out []cause
	for _, c := range status.Status().Details.Causes {
		out = append(out, cause{c.Type, c.Field})
	}
	return out
}

func TestWebhooksAgainstAPIServer(t *testing.T) {
	s := integrationSettings()
	ledger := &admitted.Memory{}
	e := startWebhookEnv(t, s, func(w *webhook.RemediationPolicyWebhook) { w.Ledger = ledger })
	ctx := t.Context()

	t.Run("invalid policy is rejected with every field error", func(t *testing.T) {
		p := newPolicy("team-a", "invalid",
			v1alpha1.EventSelector{},
			v1alpha1.EventSelector{Reason: "BackOff", Message: "(", Expression: "event.nope == 1"},
			v1alpha1.EventSelector{Reason: "BackOff", Message: "(", Expression: "event.nope == 1"},
			v1alpha1.EventSelector{Reason: "Failed", Namespace: "team-b"},
		)
		p.Spec.McpEndpoint = policytest.OtherEndpoint
		p.Spec.McpTool = "ok"
		p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{}
		err := e.client.Create(ctx, p)
		require.Error(t, err)
		assert.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
		assert.Contains(t, err.Error(), `RemediationPolicy.remediation.dot-ai.io "invalid" is invalid`)
		assert.ElementsMatch(t, []cause{
			{metav1.CauseType(field.ErrorTypeInvalid), "spec.eventSelectors[0]"},
			{metav1.CauseType(field.ErrorTypeInvalid), "spec.eventSelectors[1].message"},
			{metav1.CauseType(field.ErrorTypeInvalid), "spec.eventSelectors[1].expression"},
			{metav1.CauseType(field.ErrorTypeDuplicate), "spec.eventSelectors[2]"},
			{metav1.CauseType(field.ErrorTypeInvalid), "spec.eventSelectors[2].message"},
			{metav1.CauseType(field.ErrorTypeInvalid), "spec.eventSelectors[2].expression"},
			{metav1.CauseType(field.ErrorTypeForbidden), "spec.mcpEndpoint"},
			{metav1.CauseType(field.ErrorTypeForbidden), "spec.namespaceSelector"},
		}, causesOf(t, err))
		// eventSelectors[3].namespace is not reported: with namespaceSelector
		// set, a selector may name another namespace.
	})

	t.Run("access reviews as the requesting user (decision 20)", func(t *testing.T) {
		testAccessReviews(t, e, ledger)
	})

	t.Run("catalogue of invalid policies", func(t *testing.T) {
		testCatalogueAgainstAPIServer(t, e.client)
	})

	t.Run("minimal valid policy comes back fully defaulted from settings", func(t *testing.T) {
		p := newPolicy("team-a", "minimal")
		require.NoError(t, e.client.Create(ctx, p))
		d := s.Defaults
		want := v1alpha1.RemediationPolicySpec{
			EventSelectors:      []v1alpha1.EventSelector{{Type: v1alpha1.EventTypeWarning, Reason: "BackOff"}},
			Mode:                d.Mode,
			ConfidenceThreshold: new(d.ConfidenceThreshold),
			MaxRiskLevel:        d.MaxRiskLevel,
			McpTool:             d.McpTool,
			RateLimiting:        &v1alpha1.RateLimiting{EventsPerMinute: new(d.EventsPerMinute), CooldownMinutes: new(d.CooldownMinutes)},
			MinOccurrences:      new(d.MinOccurrences), OccurrenceWindowSeconds: new(d.OccurrenceWindowSeconds),
			ContextGathering: &v1alpha1.ContextGathering{
				IncludeLogs: new(d.IncludeLogs), LogLines: new(d.LogLines), MaxLogBytes: new(d.MaxLogBytes),
				IncludePreviousLogs: new(d.IncludePreviousLogs), IncludeRelatedEvents: new(d.IncludeRelatedEvents),
				LookbackMinutes: new(d.LookbackMinutes), IncludeResourceSpec: new(d.IncludeResourceSpec),
				IncludeMetrics: new(d.IncludeMetrics),
			},
		}
		// Read it back from the apiserver, not from the create response only.
		got := &v1alpha1.RemediationPolicy{}
		require.NoError(t, e.client.Get(ctx, client.ObjectKeyFromObject(p), got))
		assert.Equal(t, want, got.Spec)
		assert.Empty(t, got.Spec.McpEndpoint, "the installation endpoint is never copied into a policy")
		assert.Nil(t, got.Spec.McpAuthSecretRef)
		ok, err := ledger.Admitted(ctx, got)
		require.NoError(t, err)
		assert.True(t, ok, "the webhook recorded the spec as stored, after defaulting")
	})

	t.Run("namespaceSelector outside the cluster-policy namespaces is rejected", func(t *testing.T) {
		p := newPolicy("team-a", "wide")
		p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{"tier": "prod"}}
		err := e.client.Create(ctx, p)
		require.Error(t, err)
		assert.Equal(t, []cause{{metav1.CauseType(field.ErrorTypeForbidden), "spec.namespaceSelector"}}, causesOf(t, err))
		assert.Contains(t, err.Error(), "namespaceSelector is only allowed for policies in the cluster-policy namespaces [dot-ai]")

		ok := newPolicy("dot-ai", "wide")
		ok.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{"tier": "prod"}}
		require.NoError(t, e.client.Create(ctx, ok))
	})

	t.Run("a risk level above the namespace's cap is rejected with the chart value to change", func(t *testing.T) {
		p := newPolicy(policytest.GuardedNamespace, "too-risky")
		p.Spec.MaxRiskLevel = v1alpha1.RiskHigh // mode automatic comes from the settings' defaults
		err := e.client.Create(ctx, p)
		require.Error(t, err)
		assert.Equal(t, []cause{{metav1.CauseType(field.ErrorTypeForbidden), "spec.maxRiskLevel"}}, causesOf(t, err))
		assert.Contains(t, err.Error(), "maxRiskLevel high is above the highest allowed in namespace \"guarded\", medium "+
			"(chart value guardrails.maxRiskLevel.namespaces.guarded)")

		p.Spec.MaxRiskLevel = v1alpha1.RiskMedium
		require.NoError(t, e.client.Create(ctx, p))
	})

	t.Run("warnings reach the client", func(t *testing.T) {
		e.warnings.take()
		p := newPolicy("team-a", "risky")
		p.Spec.MaxRiskLevel = v1alpha1.RiskHigh // mode automatic comes from the settings' defaults
		p.Spec.Suspend = new(true)
		require.NoError(t, e.client.Create(ctx, p))
		assert.ElementsMatch(t, []string{policy.WarnAutomaticHighRisk, policy.WarnSuspended}, e.warnings.take())
	})

	t.Run("an update that breaks the policy is rejected, a metadata-only update is not", func(t *testing.T) {
		p := &v1alpha1.RemediationPolicy{}
		require.NoError(t, e.client.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "minimal"}, p))
		bad := p.DeepCopy()
		bad.Spec.EventSelectors = append(bad.Spec.EventSelectors, bad.Spec.EventSelectors[0])
		err := e.client.Update(ctx, bad)
		require.Error(t, err)
		assert.Equal(t, []cause{{metav1.CauseType(field.ErrorTypeDuplicate), "spec.eventSelectors[1]"}}, causesOf(t, err))

		p.Labels = map[string]string{"team": "a"}
		require.NoError(t, e.client.Update(ctx, p))
	})
}

// BenchmarkAdmission measures a server dry-run create of a policy through
// the real apiserver (both webhooks called over TLS; nothing is stored), next
// to the same dry-run create of a ConfigMap, which no webhook sees: the
// baseline that shows the apiserver's own share of the latency on this
// machine, and, last, the same policy once the webhooks are removed. It
// reports p50/p99 and the TLS handshakes the webhook server saw
// (make bench-webhook).
func BenchmarkAdmission(b *testing.B) {
	e := startWebhookEnv(b, integrationSettings())
	ctx := context.Background()
	cases := map[string]func(i int) client.Object{
		"policy-through-webhooks": func(i int) client.Object {
			return newPolicy("team-a", fmt.Sprintf("bench-%d", i),
				v1alpha1.EventSelector{Type: v1alpha1.EventTypeWarning, Reason: "BackOff", Message: "^Back-off restarting"},
				v1alpha1.EventSelector{Reason: "OOMKilled", Expression: `event.involvedObject.kind == "Pod" && event.count > 2`},
			)
		},
		"configmap-baseline-no-webhook": func(i int) client.Object {
			return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: fmt.Sprintf("bench-%d", i)}, Data: map[string]string{"k": "v"}}
		},
	}
	// The same policy with the webhook configurations deleted: the
	// apiserver's own share for this CRD. It runs last.
	cases["policy-baseline-webhooks-removed"] = cases["policy-through-webhooks"]
	// The same policy sent straight to both webhooks over TLS, as the
	// apiserver sends it: the validate+default round trip without the
	// apiserver's own work.
	cases["policy-direct-to-webhooks"] = cases["policy-through-webhooks"]
	names := []string{"policy-through-webhooks", "policy-direct-to-webhooks", "configmap-baseline-no-webhook", "policy-baseline-webhooks-removed"}
	for _, name := range names {
		obj := cases[name]
		if name == "policy-baseline-webhooks-removed" {
			removeWebhooks(ctx, b, e.client)
		}
		b.Run(name, func(b *testing.B) {
			create := func(i int) time.Duration {
				o := obj(i)
				start := time.Now()
				if name == "policy-direct-to-webhooks" {
					e.admitDirect(b, o.(*v1alpha1.RemediationPolicy))
					return time.Since(start)
				}
				if err := e.client.Create(ctx, o, client.DryRunAll); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			for i := range 50 { // warm up connections and caches
				create(-i - 1)
			}
			handshakes := tlsHandshakes.Load()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				lat = append(lat, create(i))
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(q float64) float64 {
				idx := min(int(q*float64(len(lat))), len(lat)-1)
				return float64(lat[idx].Microseconds()) / 1000
			}
			b.ReportMetric(float64(tlsHandshakes.Load()-handshakes), "tls-handshakes")
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(slices.Max(lat).Microseconds())/1000, "max-ms")
		})
	}
}

// removeWebhooks deletes the webhook configurations and waits until the
// apiserver stops calling them: a policy only the webhook rejects (its
// message is not a valid RE2) is then admitted.
func removeWebhooks(ctx context.Context, tb testing.TB, c client.Client) {
	tb.Helper()
	require.NoError(tb, c.DeleteAllOf(ctx, &admissionregv1.MutatingWebhookConfiguration{}))
	require.NoError(tb, c.DeleteAllOf(ctx, &admissionregv1.ValidatingWebhookConfiguration{}))
	require.Eventually(tb, func() bool {
		p := newPolicy("team-a", "webhooks-gone", v1alpha1.EventSelector{Reason: "BackOff", Message: "("})
		return c.Create(ctx, p, client.DryRunAll) == nil
	}, 30*time.Second, 50*time.Millisecond, "the apiserver still calls the webhooks")
}

// admitDirect sends p's AdmissionReview to the defaulting webhook, then the
// defaulted policy's to the validating webhook, as the apiserver would, and
// fails unless both allow it. The defaulted object is computed in-process:
// applying the patch is the apiserver's work.
func (e *webhookEnv) admitDirect(tb testing.TB, p *v1alpha1.RemediationPolicy) {
	tb.Helper()
	defaulted := p.DeepCopy()
	require.NoError(tb, (&webhook.RemediationPolicyWebhook{Settings: e.settings}).Default(context.Background(), defaulted))
	for _, step := range []struct {
		path string
		obj  *v1alpha1.RemediationPolicy
	}{{webhook.MutatePath, p}, {webhook.ValidatePath, defaulted}} {
		body, err := webhooktest.CreateReview(step.obj, types.UID(p.Name))
		require.NoError(tb, err)
		resp, err := e.direct.Post(e.webhookURL+step.path, "application/json", bytes.NewReader(body))
		require.NoError(tb, err)
		var review admissionv1.AdmissionReview
		err = json.NewDecoder(resp.Body).Decode(&review)
		_ = resp.Body.Close()
		require.NoError(tb, err)
		require.NotNil(tb, review.Response, step.path)
		require.True(tb, review.Response.Allowed, "%s: %v", step.path, review.Response.Result)
	}
}
