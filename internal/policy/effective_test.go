package policy

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/policy/policytest"
)

// checkAgainstOracles compares Resolve with every oracle for each selector
// of p, and the warnings with the webhook's before Resolve wherever they can
// reach a user.
func checkAgainstOracles(t *testing.T, s *config.Settings, p *v1alpha1.RemediationPolicy) {
	t.Helper()
	validDefaults := config.Settings{Namespace: "x", MCPTimeout: time.Minute, MCPBreakerCooldown: time.Minute, Concurrency: 1, QueueSize: 1, Defaults: s.Defaults}
	defaultsValid := validDefaults.Validate() == nil
	for i := range p.Spec.EventSelectors {
		e := Resolve(p, i, s)
		req := oracleWatcherRequest(p, i, s)
		body := oracleRemediationBody(req)
		assert.Equal(t, body.mode, e.Mode, "mode sent (watcher → remediation)")
		assert.Equal(t, body.risk, e.MaxRiskLevel, "maxRiskLevel sent (watcher → remediation)")
		assert.Equal(t, body.threshold, e.ConfidenceThreshold, "confidenceThreshold sent (watcher → remediation)")
		// The watcher's request is an intermediate: with an unset
		// installation default the deliverer completes it (above).
		if defaultsValid {
			assert.Equal(t, req.mode, e.Mode, "mode (watcher request)")
			assert.Equal(t, req.risk, e.MaxRiskLevel, "maxRiskLevel (watcher request)")
		}
		assert.Equal(t, req.threshold, e.ConfidenceThreshold, "confidenceThreshold (watcher request)")
		assert.Equal(t, oracleWatcherEventsPerMinute(p, s), e.EventsPerMinute, "eventsPerMinute (watcher)")
		assert.Equal(t, oracleWatcherCooldown(p, s), e.Cooldown, "cooldown (watcher)")
		assert.Equal(t, p.Spec.Suspend != nil && *p.Spec.Suspend, e.Suspended, "suspend (watcher)")
		assert.Equal(t, oracleGathering(p.Spec.ContextGathering, s.Defaults), e.Context, "context gathering (enricher)")
		assert.Equal(t, s.EffectiveEndpoint(p.Spec.McpEndpoint), e.Endpoint, "endpoint (remediation, status)")
		assert.Equal(t, s.IsAllowedEndpoint(e.Endpoint), e.EndpointAllowed, "installation token allowed (remediation)")
		assert.Equal(t, p.Spec.McpAuthSecretRef, e.AuthSecretRef)
		wantURL, wantErr := oracleRemediationToolURL(p, s)
		gotURL, gotErr := e.ToolURL()
		assert.Equal(t, wantURL, gotURL, "tool URL (remediation, mcp.ToolURL)")
		assert.Equal(t, wantErr, gotErr)
		// The selector warning used to ignore installation defaults; every
		// policy the validating webhook sees has been defaulted.
		if (p.Spec.Mode != "" || s.Defaults.Mode == "") && (p.Spec.MaxRiskLevel != "" || s.Defaults.MaxRiskLevel == "") {
			assert.Equal(t, oracleSelectorAutomaticHighRisk(p, &p.Spec.EventSelectors[i]), selectorAutomaticHighRisk(s, p, i), "selector warning")
		}
	}
	if !policyWarningsDiverge(p) {
		assert.Equal(t, oraclePolicyWarnings(s, &p.Spec), policyWarnings(s, p), "policy warnings")
	}
}

// policyWarningsDiverge reports the inputs on which policyWarnings, now
// reading Resolve, differs from before: only policies that skipped the
// defaulting webhook (so the validating webhook never sees them, and the
// watcher ignores warnings) with a logLines below the schema's minimum.
func policyWarningsDiverge(p *v1alpha1.RemediationPolicy) bool {
	cg := p.Spec.ContextGathering
	return cg != nil && cg.LogLines != nil && *cg.LogLines <= 0
}

func TestResolve(t *testing.T) {
	custom := policytest.Settings()
	custom.Defaults = policytest.CustomPolicyDefaults()
	zero := policytest.Settings()
	zero.Defaults = config.PolicyDefaults{}
	zero.MCPEndpoint = ""
	ref := &v1alpha1.SecretKeyReference{Name: "t", Key: "k"}

	tests := []struct {
		name string
		s    *config.Settings
		spec v1alpha1.RemediationPolicySpec
		sel  int
		want Effective
	}{
		{
			name: "empty policy: the installation's defaults",
			s:    policytest.Settings(),
			spec: v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{{Reason: "BackOff"}}},
			want: Effective{
				Mode: config.DefaultMode, ConfidenceThreshold: config.DefaultConfidenceThreshold, MaxRiskLevel: config.DefaultMaxRiskLevel,
				Endpoint: policytest.InstallEndpoint, EndpointAllowed: true, McpTool: config.DefaultMcpTool,
				EventsPerMinute: config.DefaultEventsPerMinute, Cooldown: 5 * time.Minute, OccurrenceWindow: 5 * time.Minute,
				Context: ContextGathering{IncludeLogs: true, LogLines: 100, MaxLogBytes: 65536, IncludePreviousLogs: true,
					IncludeRelatedEvents: true, Lookback: 5 * time.Minute, IncludeResourceSpec: true},
			},
		},
		{
			name: "custom installation defaults",
			s:    custom,
			spec: v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{{Reason: "BackOff"}}},
			want: Effective{
				Mode: v1alpha1.ModeAutomatic, ConfidenceThreshold: 0.65, MaxRiskLevel: v1alpha1.RiskMedium,
				Endpoint: policytest.InstallEndpoint, EndpointAllowed: true, McpTool: "remediate_custom",
				EventsPerMinute: 42, Cooldown: 7 * time.Minute, MinOccurrences: 3, OccurrenceWindow: 2 * time.Minute,
				Context: ContextGathering{LogLines: 250, MaxLogBytes: 4096, Lookback: 13 * time.Minute, IncludeMetrics: true},
			},
		},
		{
			name: "zero installation defaults fall back to the built-in ones; cooldown 0, confidence 0 and false stay",
			s:    zero,
			spec: v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{{Reason: "BackOff"}}},
			want: Effective{
				Mode: config.DefaultMode, ConfidenceThreshold: 0, MaxRiskLevel: config.DefaultMaxRiskLevel,
				EndpointAllowed: true, McpTool: config.DefaultMcpTool, EventsPerMinute: config.DefaultEventsPerMinute,
				OccurrenceWindow: 5 * time.Minute,
				Context:          ContextGathering{LogLines: 100, MaxLogBytes: 65536, Lookback: 5 * time.Minute},
			},
		},
		{
			name: "policy values win over defaults, selector overrides over the policy",
			s:    custom,
			spec: v1alpha1.RemediationPolicySpec{
				EventSelectors: []v1alpha1.EventSelector{
					{Reason: "A"},
					{Reason: "B", Mode: v1alpha1.ModeAutomatic, ConfidenceThreshold: new(0.0), MaxRiskLevel: v1alpha1.RiskHigh,
						MinOccurrences: new(int32(4))},
				},
				MinOccurrences: new(int32(2)), OccurrenceWindowSeconds: new(int32(30)),
				Mode: v1alpha1.ModeManual, ConfidenceThreshold: new(0.9), MaxRiskLevel: v1alpha1.RiskLow,
				McpEndpoint: policytest.OtherEndpoint, McpAuthSecretRef: ref, McpTool: "mine",
				RateLimiting: &v1alpha1.RateLimiting{EventsPerMinute: new(int32(3)), CooldownMinutes: new(int32(0))},
				ContextGathering: &v1alpha1.ContextGathering{
					IncludeLogs: new(true), LogLines: new(int32(7)), MaxLogBytes: new(int64(2048)), IncludePreviousLogs: new(true),
					IncludeRelatedEvents: new(true), LookbackMinutes: new(int32(60)), IncludeResourceSpec: new(true), IncludeMetrics: new(false),
				},
				Suspend: new(true),
			},
			sel: 1,
			want: Effective{
				Mode: v1alpha1.ModeAutomatic, ConfidenceThreshold: 0, MaxRiskLevel: v1alpha1.RiskHigh,
				Endpoint: policytest.OtherEndpoint, AuthSecretRef: ref, McpTool: "mine",
				EventsPerMinute: 3, Cooldown: 0, MinOccurrences: 4, OccurrenceWindow: 30 * time.Second,
				Context: ContextGathering{IncludeLogs: true, LogLines: 7, MaxLogBytes: 2048, IncludePreviousLogs: true,
					IncludeRelatedEvents: true, Lookback: time.Hour, IncludeResourceSpec: true},
				Suspended: true,
			},
		},
		{
			name: "NoSelector gives the policy level",
			s:    policytest.Settings(),
			spec: v1alpha1.RemediationPolicySpec{
				EventSelectors: []v1alpha1.EventSelector{{Reason: "A", Mode: v1alpha1.ModeAutomatic}},
				McpEndpoint:    policytest.AllowedPrefix + "mcp",
			},
			sel: NoSelector,
			want: Effective{
				Mode: v1alpha1.ModeManual, ConfidenceThreshold: 0.8, MaxRiskLevel: v1alpha1.RiskLow,
				Endpoint: policytest.AllowedPrefix + "mcp", EndpointAllowed: true, McpTool: "remediate",
				EventsPerMinute: 10, Cooldown: 5 * time.Minute, OccurrenceWindow: 5 * time.Minute,
				Context: ContextGathering{IncludeLogs: true, LogLines: 100, MaxLogBytes: 65536, IncludePreviousLogs: true,
					IncludeRelatedEvents: true, Lookback: 5 * time.Minute, IncludeResourceSpec: true},
			},
		},
		{
			name: "limits below their minimum count as unset (only a policy that bypassed validation has them)",
			s:    policytest.Settings(),
			spec: v1alpha1.RemediationPolicySpec{
				EventSelectors:   []v1alpha1.EventSelector{{Reason: "A"}},
				RateLimiting:     &v1alpha1.RateLimiting{EventsPerMinute: new(int32(0))},
				ContextGathering: &v1alpha1.ContextGathering{LogLines: new(int32(0)), MaxLogBytes: new(int64(-1)), LookbackMinutes: new(int32(0))},
			},
			want: Effective{
				Mode: v1alpha1.ModeManual, ConfidenceThreshold: 0.8, MaxRiskLevel: v1alpha1.RiskLow,
				Endpoint: policytest.InstallEndpoint, EndpointAllowed: true, McpTool: "remediate",
				EventsPerMinute: 10, Cooldown: 5 * time.Minute, OccurrenceWindow: 5 * time.Minute,
				Context: ContextGathering{IncludeLogs: true, LogLines: 100, MaxLogBytes: 65536, IncludePreviousLogs: true,
					IncludeRelatedEvents: true, Lookback: 5 * time.Minute, IncludeResourceSpec: true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team-a"}, Spec: tc.spec}
			assert.Equal(t, tc.want, Resolve(p, tc.sel, tc.s))
			checkAgainstOracles(t, tc.s, p)
		})
	}
}

// TestResolveMatchesEverySite compares Resolve with every oracle over many
// generated policies and installations, as they come in and after the
// defaulting webhook.
func TestResolveMatchesEverySite(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	pick := func(n int) int { return r.IntN(n) }
	ptr := func(vs ...any) any { return vs[pick(len(vs))] }
	settings := func() *config.Settings {
		s := policytest.Settings()
		switch pick(4) {
		case 1:
			s.Defaults = policytest.CustomPolicyDefaults()
		case 2:
			s.Defaults = config.PolicyDefaults{}
		case 3:
			s.Defaults.Mode, s.Defaults.MaxRiskLevel, s.Defaults.ConfidenceThreshold = v1alpha1.ModeAutomatic, v1alpha1.RiskHigh, 0
			s.Defaults.LogLines, s.Defaults.CooldownMinutes = 5000, 0
		}
		if pick(4) == 0 {
			s.MCPEndpoint = ""
		}
		return s
	}
	modes := []v1alpha1.RemediationMode{"", v1alpha1.ModeManual, v1alpha1.ModeAutomatic}
	risks := []v1alpha1.RiskLevel{"", v1alpha1.RiskLow, v1alpha1.RiskMedium, v1alpha1.RiskHigh}
	thresholds := func() *float64 { return ptr((*float64)(nil), new(0.0), new(0.3), new(0.9)).(*float64) }
	int32s := func(vs ...int32) *int32 {
		if pick(3) == 0 {
			return nil
		}
		return new(vs[pick(len(vs))])
	}
	bools := func() *bool { return ptr((*bool)(nil), new(true), new(false)).(*bool) }
	for n := range 3000 {
		s := settings()
		var sels []v1alpha1.EventSelector
		for range 1 + pick(3) {
			sels = append(sels, v1alpha1.EventSelector{Reason: "R", Mode: modes[pick(3)], MaxRiskLevel: risks[pick(4)], ConfidenceThreshold: thresholds()})
		}
		spec := v1alpha1.RemediationPolicySpec{
			EventSelectors:      sels,
			Mode:                modes[pick(3)],
			MaxRiskLevel:        risks[pick(4)],
			ConfidenceThreshold: thresholds(),
			McpTool:             []string{"", "mine"}[pick(2)],
			McpEndpoint:         []string{"", policytest.AllowedPrefix + "x", policytest.OtherEndpoint, "http://[bad"}[pick(4)],
			Suspend:             bools(),
		}
		if pick(2) == 0 {
			spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: "t", Key: "k"}
		}
		if pick(3) > 0 {
			spec.RateLimiting = &v1alpha1.RateLimiting{EventsPerMinute: int32s(0, 1, 500), CooldownMinutes: int32s(0, 30)}
		}
		if pick(3) > 0 {
			mlb := int64s(pick, 0, 2048)
			spec.ContextGathering = &v1alpha1.ContextGathering{
				IncludeLogs: bools(), LogLines: int32s(-1, 0, 7, 2000), MaxLogBytes: mlb, IncludePreviousLogs: bools(),
				IncludeRelatedEvents: bools(), LookbackMinutes: int32s(0, 60), IncludeResourceSpec: bools(), IncludeMetrics: bools(),
			}
		}
		p := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team-a"}, Spec: spec}
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			checkAgainstOracles(t, s, p.DeepCopy())
			defaulted := p.DeepCopy()
			Default(s, defaulted)
			checkAgainstOracles(t, s, defaulted)
		})
		if t.Failed() {
			break
		}
	}
}

func int64s(pick func(int) int, vs ...int64) *int64 {
	if pick(3) == 0 {
		return nil
	}
	return new(vs[pick(len(vs))])
}

// TestResolveDivergences pins the only inputs on which the warnings, now read
// from Resolve, differ from before. The validating webhook never sees them
// (the defaulting webhook fills the threshold, the schema rejects logLines
// 0) and the watcher ignores warnings.
func TestResolveDivergences(t *testing.T) {
	s := policytest.Settings()
	p := &v1alpha1.RemediationPolicy{Spec: v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{{Reason: "A"}}}}
	s.Defaults.LogLines = 5000
	p.Spec.ContextGathering = &v1alpha1.ContextGathering{LogLines: new(int32(0))}
	large := fmt.Sprintf(WarnLargeLogLines, largeLogLines)
	assert.NotContains(t, oraclePolicyWarnings(s, &p.Spec), large)
	assert.Contains(t, policyWarnings(s, p), large, "the default's 5000 lines are what is gathered")
}

func TestCompiledEffective(t *testing.T) {
	s := policytest.Settings()
	p := &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team-a"},
		Spec: v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{
			{Reason: "A"}, {Reason: "B", Mode: v1alpha1.ModeAutomatic, MaxRiskLevel: v1alpha1.RiskMedium},
		}},
	}
	c, errs := Compile(s, p, nil)
	require.Empty(t, errs)
	for i := range p.Spec.EventSelectors {
		assert.Equal(t, Resolve(p, i, s), c.Effective(i))
	}
}

// TestResolveContextDefaults is the enricher's former resolve test: the
// enricher now takes Effective.Context from the delivery request.
func TestResolveContextDefaults(t *testing.T) {
	d := config.Default().Defaults
	g := resolveContext(nil, d)
	assert.True(t, g.IncludeLogs)
	assert.EqualValues(t, 100, g.LogLines)
	assert.Equal(t, 5*time.Minute, g.Lookback)
	g = resolveContext(&v1alpha1.ContextGathering{IncludeLogs: new(false), LookbackMinutes: new(int32(30))}, d)
	assert.False(t, g.IncludeLogs)
	assert.Equal(t, 30*time.Minute, g.Lookback)
	g = resolveContext(nil, config.PolicyDefaults{})
	assert.EqualValues(t, 100, g.LogLines, "zero defaults fall back to safe values")
	assert.EqualValues(t, 65536, g.MaxLogBytes)
}
