package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/policy/policytest"
)

// customDefaults differ from every built-in default, to prove Default reads
// Settings and not constants.
func customDefaults() *config.Settings {
	s := testSettings()
	s.Defaults = policytest.CustomPolicyDefaults()
	return s
}

func TestDefault(t *testing.T) {
	s := customDefaults()
	fullyDefaulted := v1alpha1.RemediationPolicySpec{
		EventSelectors:      []v1alpha1.EventSelector{{Type: v1alpha1.EventTypeWarning, Reason: "BackOff"}},
		Mode:                v1alpha1.ModeAutomatic,
		ConfidenceThreshold: new(0.65),
		MaxRiskLevel:        v1alpha1.RiskMedium,
		McpTool:             "remediate_custom",
		RateLimiting:        &v1alpha1.RateLimiting{EventsPerMinute: new(int32(42)), CooldownMinutes: new(int32(7))},
		MinOccurrences:      new(int32(3)), OccurrenceWindowSeconds: new(int32(120)),
		ContextGathering: &v1alpha1.ContextGathering{
			IncludeLogs: new(false), LogLines: new(int32(250)), MaxLogBytes: new(int64(4096)),
			IncludePreviousLogs: new(false), IncludeRelatedEvents: new(false), LookbackMinutes: new(int32(13)),
			IncludeResourceSpec: new(false), IncludeMetrics: new(true),
		},
	}
	userSet := v1alpha1.RemediationPolicySpec{
		EventSelectors: []v1alpha1.EventSelector{{Reason: "BackOff", Mode: v1alpha1.ModeManual}, {Reason: "Failed"}},
		McpEndpoint:    otherEndpoint, McpAuthSecretRef: &v1alpha1.SecretKeyReference{Name: "t", Key: "k"},
		Mode: v1alpha1.ModeManual, ConfidenceThreshold: new(0.0), MaxRiskLevel: v1alpha1.RiskLow, McpTool: "mine",
		RateLimiting:   &v1alpha1.RateLimiting{EventsPerMinute: new(int32(1)), CooldownMinutes: new(int32(0))},
		MinOccurrences: new(int32(0)), OccurrenceWindowSeconds: new(int32(1)),
		ContextGathering: &v1alpha1.ContextGathering{
			IncludeLogs: new(true), LogLines: new(int32(1)), MaxLogBytes: new(int64(1024)),
			IncludePreviousLogs: new(true), IncludeRelatedEvents: new(true), LookbackMinutes: new(int32(1)),
			IncludeResourceSpec: new(true), IncludeMetrics: new(false),
		},
		Suspend: new(false),
	}
	partial := func() v1alpha1.RemediationPolicySpec {
		sp := fullyDefaulted
		sp.RateLimiting = &v1alpha1.RateLimiting{EventsPerMinute: new(int32(3)), CooldownMinutes: new(int32(7))}
		sp.ContextGathering = fullyDefaulted.ContextGathering.DeepCopy()
		sp.ContextGathering.IncludeLogs = new(true)
		return sp
	}()

	tests := []struct {
		name string
		in   v1alpha1.RemediationPolicySpec
		want v1alpha1.RemediationPolicySpec
	}{
		{
			name: "empty spec gets every default from settings, endpoint and secret stay empty (decision 1)",
			in:   v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{{Type: v1alpha1.EventTypeWarning, Reason: "BackOff"}}},
			want: fullyDefaulted,
		},
		{
			name: "user values, including zero values, are kept; selector overrides are not defaulted",
			in:   *userSet.DeepCopy(),
			want: userSet,
		},
		{
			name: "partly set nested structs are completed",
			in: v1alpha1.RemediationPolicySpec{
				EventSelectors:   []v1alpha1.EventSelector{{Type: v1alpha1.EventTypeWarning, Reason: "BackOff"}},
				RateLimiting:     &v1alpha1.RateLimiting{EventsPerMinute: new(int32(3))},
				ContextGathering: &v1alpha1.ContextGathering{IncludeLogs: new(true)},
			},
			want: partial,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team-a"}, Spec: tc.in}
			Default(s, p)
			assert.Equal(t, tc.want, p.Spec)
			again := p.DeepCopy()
			Default(s, again)
			assert.Equal(t, p, again, "defaulting is idempotent")
		})
	}
}

func TestDefaultedPolicyIsValid(t *testing.T) {
	for _, s := range []*config.Settings{testSettings(), customDefaults()} {
		p := validPolicy()
		Default(s, p)
		errs, _ := Validate(s, nil, p)
		assert.Empty(t, errs)
	}
}
