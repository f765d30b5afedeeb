package dotai

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	crfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/internal/testenv"
)

type harness struct {
	srv       *mcptest.Server
	settings  *config.Settings
	tokenFile string
	d         *Deliverer
	client    *mcp.Client
	clock     *clocktesting.FakePassiveClock
}

func newHarness(t *testing.T, serverToken string, secrets ...*corev1.Secret) *harness {
	t.Helper()
	srv := mcptest.New(mcptest.Options{Token: serverToken})
	require.NoError(t, srv.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = srv.Close() })
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("install-token\n"), 0o600))
	s := config.Default()
	s.MCPEndpoint = srv.URL()
	s.MCPTokenFile = tokenFile
	c, err := mcp.New(mcp.Options{Timeout: 5 * time.Second, BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxAttempts: 2, BreakerThreshold: 3, BreakerCooldown: time.Minute})
	require.NoError(t, err)
	b := crfake.NewClientBuilder().WithScheme(testenv.Scheme())
	for _, sec := range secrets {
		b = b.WithObjects(sec)
	}
	sc := scenarios()["crashloop-backoff"]
	clk := clocktesting.NewFakePassiveClock(now)
	d := New(Options{Settings: &s, Enricher: sc.enricher(), Client: c, Secrets: b.Build(), Clock: clk})
	return &harness{srv: srv, settings: &s, tokenFile: tokenFile, d: d, client: c, clock: clk}
}

// request is the crash-loop occurrence as the watcher hands it over under
// settings s, after mutate changed the policy, in mode.
func request(s *config.Settings, mode v1alpha1.RemediationMode, mutate func(p *v1alpha1.RemediationPolicy)) delivery.Request {
	req := scenarios()["crashloop-backoff"].req
	req.Policy = req.Policy.DeepCopy()
	if mutate != nil {
		mutate(req.Policy)
	}
	req.Effective = effective(req.Policy, s, mode)
	return req
}

// TestDeliverChecksTheRequestURL: the installation token goes only to a
// request URL the allow-list admits, whatever the resolved settings say.
func TestDeliverChecksTheRequestURL(t *testing.T) {
	other := mcptest.New(mcptest.Options{Token: "install-token"})
	require.NoError(t, other.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = other.Close() })
	h := newHarness(t, "install-token")
	req := request(h.settings, v1alpha1.ModeManual, nil)
	req.Effective.Endpoint = other.URL()
	req.Effective.EndpointAllowed = true // as a stale or forged resolution would claim
	res := h.d.Deliver(context.Background(), req)
	assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, res.Outcome.Result)
	assert.Equal(t, v1alpha1.ReasonInvalidSecretRef, res.ConditionReason)
	assert.Zero(t, other.Count(), "nothing sent to a URL outside the allow-list")
	assert.Zero(t, h.srv.Count())
}

// ownSecret points the policy at endpoint with its own token Secret "mcp"
// and key.
func ownSecret(endpoint, key string) func(p *v1alpha1.RemediationPolicy) {
	return func(p *v1alpha1.RemediationPolicy) {
		p.Spec.McpEndpoint = endpoint
		p.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: "mcp", Key: key}
	}
}

func secret(namespace, name, key, value string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Data: map[string][]byte{key: []byte(value)}}
}

func TestDeliverInstallationToken(t *testing.T) {
	h := newHarness(t, "install-token")
	req := request(h.settings, v1alpha1.ModeManual, nil)
	res := h.d.Deliver(context.Background(), req)
	require.Equal(t, v1alpha1.OutcomeAnalysisCompleted, res.Outcome.Result, res.Outcome.Message)
	assert.Empty(t, res.ConditionReason)
	assert.Zero(t, res.RequeueAfter)
	assert.Equal(t, "awaiting_user_approval", res.Outcome.McpStatus)
	assert.True(t, strings.HasPrefix(res.Outcome.SessionID, "rem-"))
	assert.Contains(t, res.Outcome.RootCause, "(confidence 0.92)")
	assert.Equal(t, "team-a/web-7d4b9c-x2x9z.1", res.Outcome.Event)
	assert.Equal(t, "Pod/web-7d4b9c-x2x9z", res.Outcome.InvolvedObject)
	assert.Equal(t, now, res.Outcome.Time.Time)

	reqs := h.srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "Bearer install-token", reqs[0].Header.Get("Authorization"))
	assert.Equal(t, IdempotencyKey("policy-uid", req.OccurrenceKey), reqs[0].Header.Get(mcp.IdempotencyHeader))
	assert.Len(t, reqs[0].Header.Get(mcp.IdempotencyHeader), 32)

	// Rotation: the token file is re-read on every call.
	require.NoError(t, os.WriteFile(h.tokenFile, []byte("rotated"), 0o600))
	res = h.d.Deliver(context.Background(), req)
	assert.Equal(t, v1alpha1.ReasonMCPUnauthorized, res.ConditionReason)
	assert.Equal(t, "Bearer rotated", h.srv.Requests()[1].Header.Get("Authorization"))
}

func TestDeliverTokenSafety(t *testing.T) {
	other := mcptest.New(mcptest.Options{Token: "team-token"})
	require.NoError(t, other.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = other.Close() })

	tests := map[string]struct {
		allowed     []string
		mutate      func(p *v1alpha1.RemediationPolicy)
		secrets     []*corev1.Secret
		wantResult  v1alpha1.OutcomeResult
		wantReason  string
		wantAuth    string
		wantMessage string
	}{
		"foreign endpoint without secret: refused, nothing sent": {
			mutate:      func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = other.URL() },
			wantResult:  v1alpha1.OutcomeDeliveryFailed,
			wantReason:  v1alpha1.ReasonInvalidSecretRef,
			wantMessage: "spec.mcpAuthSecretRef: required",
		},
		"allow-listed endpoint gets the installation token": {
			allowed:    []string{other.BaseURL() + "/*"},
			mutate:     func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = other.URL() },
			wantResult: v1alpha1.OutcomeDeliveryFailed, // other wants team-token
			wantReason: v1alpha1.ReasonMCPUnauthorized,
			wantAuth:   "Bearer install-token",
		},
		"secret in the policy's namespace": {
			mutate:     ownSecret(other.URL(), "token"),
			secrets:    []*corev1.Secret{secret(ns, "mcp", "token", "team-token\n")},
			wantResult: v1alpha1.OutcomeAnalysisCompleted,
			wantAuth:   "Bearer team-token",
		},
		"secret only in another namespace is not used": {
			mutate:      ownSecret(other.URL(), "token"),
			secrets:     []*corev1.Secret{secret("dot-ai", "mcp", "token", "team-token")},
			wantResult:  v1alpha1.OutcomeDeliveryFailed,
			wantReason:  v1alpha1.ReasonInvalidSecretRef,
			wantMessage: "spec.mcpAuthSecretRef.name: Secret team-a/mcp not found",
		},
		"missing key": {
			mutate:      ownSecret(other.URL(), "nope"),
			secrets:     []*corev1.Secret{secret(ns, "mcp", "token", "team-token")},
			wantResult:  v1alpha1.OutcomeDeliveryFailed,
			wantReason:  v1alpha1.ReasonInvalidSecretRef,
			wantMessage: `spec.mcpAuthSecretRef.key`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, "install-token", tc.secrets...)
			h.settings.MCPAllowedEndpoints = tc.allowed
			before := other.Count()
			res := h.d.Deliver(context.Background(), request(h.settings, v1alpha1.ModeManual, tc.mutate))
			assert.Equal(t, tc.wantResult, res.Outcome.Result, res.Outcome.Message)
			assert.Equal(t, tc.wantReason, res.ConditionReason)
			assert.Contains(t, res.Outcome.Message, tc.wantMessage)
			assert.NotContains(t, res.Outcome.Message+res.ConditionMessage, "install-token")
			assert.Zero(t, h.srv.Count(), "the installation endpoint is not called")
			if tc.wantAuth == "" {
				assert.Equal(t, before, other.Count(), "nothing sent")
				return
			}
			reqs := other.Requests()
			require.Greater(t, len(reqs), before)
			assert.Equal(t, tc.wantAuth, reqs[len(reqs)-1].Header.Get("Authorization"))
		})
	}
}

func TestDeliverErrors(t *testing.T) {
	tests := map[string]struct {
		inject     []mcptest.Reply
		wantCode   string
		wantReason string
		wantCalls  int
	}{
		"400":          {inject: []mcptest.Reply{errReply(400, "INVALID_REQUEST")}, wantCode: "INVALID_REQUEST", wantCalls: 1},
		"401":          {inject: []mcptest.Reply{errReply(401, "UNAUTHORIZED")}, wantCode: "UNAUTHORIZED", wantReason: v1alpha1.ReasonMCPUnauthorized, wantCalls: 1},
		"403":          {inject: []mcptest.Reply{errReply(403, "FORBIDDEN")}, wantCode: "FORBIDDEN", wantReason: v1alpha1.ReasonMCPUnauthorized, wantCalls: 1},
		"404":          {inject: []mcptest.Reply{errReply(404, "TOOL_NOT_FOUND")}, wantCode: "TOOL_NOT_FOUND", wantCalls: 1},
		"500":          {inject: []mcptest.Reply{errReply(500, "EXECUTION_ERROR")}, wantCode: "EXECUTION_ERROR", wantCalls: 1},
		"non-JSON 200": {inject: []mcptest.Reply{{Status: 200, Body: []byte("<html/>")}}, wantCode: "MALFORMED_RESPONSE", wantCalls: 1},
		"503 twice":    {inject: []mcptest.Reply{{Status: 503}, {Status: 503}}, wantCode: "HTTP_503", wantReason: v1alpha1.ReasonMCPUnreachable, wantCalls: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, "install-token")
			h.settings.MCPOutageHold = 0 // fail after the client's retries
			h.srv.Inject(tc.inject...)
			res := h.d.Deliver(context.Background(), request(h.settings, v1alpha1.ModeManual, nil))
			assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, res.Outcome.Result)
			assert.Equal(t, tc.wantCode, res.Outcome.McpStatus)
			assert.Equal(t, tc.wantReason, res.ConditionReason)
			assert.Equal(t, tc.wantCalls, h.srv.Count())
			assert.Zero(t, res.RequeueAfter)
		})
	}
}

func errReply(status int, code string) mcptest.Reply {
	return mcptest.Reply{Status: status, Body: mcptest.ErrorEnvelope(code, "injected")}
}

// deadEndpoint is a loopback URL nothing listens on.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	return "http://" + ln.Addr().String() + "/api/v1/tools/remediate"
}

func TestDeliverUnreachableOpensBreaker(t *testing.T) {
	h := newHarness(t, "install-token")
	h.settings.MCPOutageHold = 0
	dead := deadEndpoint(t)
	h.settings.MCPEndpoint = dead
	req := request(h.settings, v1alpha1.ModeAutomatic, nil)
	// 2 attempts per delivery, breaker threshold 3: open during the second.
	res := h.d.Deliver(context.Background(), req)
	assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, res.Outcome.Result)
	assert.Equal(t, v1alpha1.ReasonMCPUnreachable, res.ConditionReason)
	assert.Equal(t, "CONNECTION_ERROR", res.Outcome.McpStatus)
	res = h.d.Deliver(context.Background(), req)
	require.Positive(t, h.client.BreakerWait(dead))
	// Without an outage hold an open breaker fails the event at once.
	res = h.d.Deliver(context.Background(), req)
	assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, res.Outcome.Result)
	assert.Equal(t, "CIRCUIT_OPEN", res.Outcome.McpStatus)
	assert.Equal(t, v1alpha1.ReasonMCPUnreachable, res.ConditionReason)
	assert.Zero(t, res.RequeueAfter)
}

// TestDeliverOutageHold: an unreachable endpoint keeps the event queued
// (RequeueAfter, MCPUnreachable) within the outage hold when repeating the
// call cannot repeat a remediation; otherwise the event fails.
func TestDeliverOutageHold(t *testing.T) {
	tests := map[string]struct {
		mode     v1alpha1.RemediationMode
		dead     bool
		inject   []mcptest.Reply
		hold     time.Duration
		age      time.Duration
		wantHeld bool
		wantCode string
		// notOutage: the failure says nothing about the endpoint's health.
		notOutage bool
	}{
		"manual, refused":                 {mode: v1alpha1.ModeManual, dead: true, hold: time.Hour, wantHeld: true},
		"manual, 503":                     {mode: v1alpha1.ModeManual, inject: []mcptest.Reply{{Status: 503}, {Status: 503}}, hold: time.Hour, wantHeld: true},
		"manual, hang":                    {mode: v1alpha1.ModeManual, inject: []mcptest.Reply{{Delay: time.Minute}, {Delay: time.Minute}}, hold: time.Hour, wantHeld: true},
		"automatic, refused (never sent)": {mode: v1alpha1.ModeAutomatic, dead: true, hold: time.Hour, wantHeld: true},
		"automatic, 503 (sent)":           {mode: v1alpha1.ModeAutomatic, inject: []mcptest.Reply{{Status: 503}}, hold: time.Hour, wantCode: "HTTP_503"},
		"manual, refused, hold exceeded":  {mode: v1alpha1.ModeManual, dead: true, hold: time.Hour, age: time.Hour, wantCode: "CONNECTION_ERROR"},
		"manual, refused, no hold":        {mode: v1alpha1.ModeManual, dead: true, wantCode: "CONNECTION_ERROR"},
		"manual, 500 is not an outage":    {mode: v1alpha1.ModeManual, inject: []mcptest.Reply{errReply(500, "EXECUTION_ERROR")}, hold: time.Hour, wantCode: "EXECUTION_ERROR", notOutage: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, "install-token")
			h.settings.MCPOutageHold = tc.hold
			if tc.dead {
				h.settings.MCPEndpoint = deadEndpoint(t)
			}
			h.srv.Inject(tc.inject...)
			if len(tc.inject) > 0 && tc.inject[0].Delay > 0 {
				c, err := mcp.New(mcp.Options{Timeout: 50 * time.Millisecond, BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxAttempts: 2, BreakerThreshold: 3})
				require.NoError(t, err)
				h.d.opts.Client = c
			}
			h.clock.SetTime(now.Add(tc.age))
			res := h.d.Deliver(context.Background(), request(h.settings, tc.mode, nil))
			if tc.notOutage {
				assert.Empty(t, res.ConditionReason)
			} else {
				assert.Equal(t, v1alpha1.ReasonMCPUnreachable, res.ConditionReason)
			}
			if tc.wantHeld {
				assert.Empty(t, res.Outcome.Result, "held events have no outcome yet")
				assert.GreaterOrEqual(t, res.RequeueAfter, OutageRetry, "no hot loop")
				assert.Contains(t, res.ConditionMessage, "events stay queued")
				return
			}
			assert.Zero(t, res.RequeueAfter)
			assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, res.Outcome.Result)
			assert.Equal(t, tc.wantCode, res.Outcome.McpStatus)
		})
	}
}

// TestDeliverHeldWhileBreakerOpen: once the breaker is open nothing is sent;
// the event waits for the breaker within the hold and fails after it.
func TestDeliverHeldWhileBreakerOpen(t *testing.T) {
	h := newHarness(t, "install-token")
	h.settings.MCPOutageHold = time.Hour
	dead := deadEndpoint(t)
	h.settings.MCPEndpoint = dead
	req := request(h.settings, v1alpha1.ModeManual, nil)
	for range 2 { // 4 refused attempts: the breaker (threshold 3) opens
		res := h.d.Deliver(context.Background(), req)
		require.Positive(t, res.RequeueAfter)
	}
	wait := h.client.BreakerWait(dead)
	require.Positive(t, wait)
	res := h.d.Deliver(context.Background(), req)
	assert.Equal(t, v1alpha1.ReasonMCPUnreachable, res.ConditionReason)
	assert.InDelta(t, wait.Seconds(), res.RequeueAfter.Seconds(), 1, "offered again when the breaker half-opens")
	assert.Contains(t, res.ConditionMessage, "circuit breaker open")

	h.clock.SetTime(now.Add(time.Hour))
	res = h.d.Deliver(context.Background(), req)
	assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, res.Outcome.Result)
	assert.Equal(t, "CIRCUIT_OPEN", res.Outcome.McpStatus)
}

func TestDeliverAutomaticAndNoEndpoint(t *testing.T) {
	h := newHarness(t, "install-token")
	res := h.d.Deliver(context.Background(), request(h.settings, v1alpha1.ModeAutomatic, nil))
	assert.Equal(t, v1alpha1.OutcomeRemediationSucceeded, res.Outcome.Result, res.Outcome.Message)
	assert.Contains(t, string(h.srv.Requests()[0].Body), `"confidenceThreshold":0.8`)

	h.settings.MCPEndpoint = ""
	res = h.d.Deliver(context.Background(), request(h.settings, v1alpha1.ModeManual, nil))
	assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, res.Outcome.Result)
	assert.Equal(t, v1alpha1.ReasonMCPUnreachable, res.ConditionReason)

	res = h.d.Deliver(context.Background(), delivery.Request{})
	assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, res.Outcome.Result, "bad input never panics")
}

func TestMapResponse(t *testing.T) {
	long := strings.Repeat("ü", 3000)
	tests := map[string]struct {
		result      mcp.Result
		want        v1alpha1.OutcomeResult
		wantMessage string
	}{
		"manual analysis": {
			result: mcp.Result{Status: "awaiting_user_approval", SessionID: "rem-1", Analysis: &mcp.Analysis{RootCause: "bad config", Confidence: 0.95},
				Remediation: &mcp.Remediation{Summary: "fix the config", Risk: "low", Actions: []mcp.Action{{Command: "kubectl ..."}}}},
			want: v1alpha1.OutcomeAnalysisCompleted, wantMessage: "proposed: fix the config (risk low), 1 action(s); took 1.2s",
		},
		"automatic below thresholds": {
			result: mcp.Result{Status: "success", FallbackReason: "confidence 0.6 below 0.8", Remediation: &mcp.Remediation{Summary: "restart"}},
			want:   v1alpha1.OutcomeAnalysisCompleted, wantMessage: "not executed: confidence 0.6 below 0.8; proposed: restart; took 1.2s",
		},
		"executed success": {
			result: mcp.Result{Status: "success", Executed: true, ExecutedCommands: []string{"kubectl rollout restart deployment/web"}, Validation: &mcp.Validation{Success: true, Summary: "pods healthy"}},
			want:   v1alpha1.OutcomeRemediationSucceeded, wantMessage: "pods healthy; executed: kubectl rollout restart deployment/web; took 1.2s",
		},
		"executed but validation failed": {
			result: mcp.Result{Status: "success", Executed: true, Validation: &mcp.Validation{Success: false, Summary: "still crashing"}},
			want:   v1alpha1.OutcomeRemediationFailed, wantMessage: "still crashing; took 1.2s",
		},
		"partially resolved": {
			result: mcp.Result{Status: "partially_resolved", Executed: true, Validation: &mcp.Validation{Summary: "1 pod still pending"}},
			want:   v1alpha1.OutcomeRemediationFailed, wantMessage: "1 pod still pending; took 1.2s",
		},
		"failed": {
			result: mcp.Result{Status: "failed", Executed: true, Results: []mcp.ActionResult{{Action: "kubectl delete pod x", Success: false, Error: "forbidden"}}},
			want:   v1alpha1.OutcomeRemediationFailed, wantMessage: "kubectl delete pod x failed: forbidden; took 1.2s",
		},
		"already resolved": {
			result: mcp.Result{Status: "success", Message: "Issue already resolved: pod is healthy"},
			want:   v1alpha1.OutcomeAnalysisCompleted, wantMessage: "Issue already resolved: pod is healthy; took 1.2s",
		},
	}
	d := New(Options{Clock: clocktesting.NewFakePassiveClock(now)})
	s := config.Default()
	req := request(&s, v1alpha1.ModeManual, nil)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := tc.result
			o := d.MapResponse(req, &mcp.Response{Envelope: mcp.Envelope{Data: &mcp.Data{Result: &r, ExecutionTime: 1234}}})
			assert.Equal(t, tc.want, o.Result)
			assert.Equal(t, tc.wantMessage, o.Message)
			assert.Equal(t, r.Status, o.McpStatus)
		})
	}
	t.Run("bounds", func(t *testing.T) {
		r := mcp.Result{Status: long, SessionID: long, Message: long, Analysis: &mcp.Analysis{RootCause: long}}
		o := d.MapResponse(req, &mcp.Response{Envelope: mcp.Envelope{Data: &mcp.Data{Result: &r}}})
		for field, v := range map[string]struct {
			s   string
			max int
		}{"mcpStatus": {o.McpStatus, 64}, "sessionId": {o.SessionID, 128}, "rootCause": {o.RootCause, 1024}, "message": {o.Message, 1024}} {
			assert.Equal(t, v.max, len([]rune(v.s)), field)
			assert.True(t, strings.HasSuffix(v.s, "…"), field)
		}
	})
}

// TestEffectiveThreshold checks the threshold sent in automatic mode, from
// the policy through the watcher's resolution to the request body.
func TestEffectiveThreshold(t *testing.T) {
	s := config.Default()
	req := request(&s, v1alpha1.ModeAutomatic, nil)
	sent := func() float64 {
		return *BuildRequest(req, &enricher.Context{}).ConfidenceThreshold
	}
	resolve := func() { req.Effective = effective(req.Policy, &s, v1alpha1.ModeAutomatic) }
	req.Effective.ConfidenceThreshold = 0.7
	assert.Equal(t, 0.7, sent(), "the watcher's effective value wins")
	s.Defaults.ConfidenceThreshold = 0
	resolve()
	assert.Equal(t, 0.0, sent(), "an installation default of 0 is the installation's choice, not unset")
	zero, half := 0.0, 0.5
	req.Policy.Spec.ConfidenceThreshold = &zero
	resolve()
	assert.Equal(t, 0.0, sent(), "an explicit 0 is the user's choice")
	req.Policy.Spec.EventSelectors[0].ConfidenceThreshold = &half
	resolve()
	assert.Equal(t, 0.5, sent())
}
