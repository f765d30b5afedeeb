package config

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"dot-ai.io/controller/api/v1alpha1"
)

func TestGuardrailFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		check   func(t *testing.T, s Settings)
		wantErr string
	}{
		"defaults: automatic in the cluster-policy namespaces, risk up to medium, a finite budget": {
			check: func(t *testing.T, s Settings) {
				assert.True(t, s.AutomaticModeAllowed(s.Namespace))
				assert.False(t, s.AutomaticModeAllowed("team-a"))
				assert.Equal(t, v1alpha1.RiskMedium, s.MaxRiskLevelFor("team-a"))
				assert.Equal(t, DefaultCallsPerHour, s.Guardrails.CallsPerHour)
				assert.Equal(t, DefaultNamespaceCallsPerHour, s.Guardrails.NamespaceCallsPerHour)
			},
		},
		"flags set every guardrail": {
			args: []string{"--automatic-mode-namespaces=ops, platform", "--max-risk-level=low",
				"--namespace-max-risk-levels=ops=high, platform=medium", "--analysis-calls-per-hour=50", "--namespace-analysis-calls-per-hour=5"},
			check: func(t *testing.T, s Settings) {
				assert.True(t, s.AutomaticModeAllowed("ops"))
				assert.False(t, s.AutomaticModeAllowed(s.Namespace), "an explicit list replaces the cluster-policy namespaces")
				assert.Equal(t, v1alpha1.RiskHigh, s.MaxRiskLevelFor("ops"))
				assert.Equal(t, v1alpha1.RiskMedium, s.MaxRiskLevelFor("platform"))
				assert.Equal(t, v1alpha1.RiskLow, s.MaxRiskLevelFor("team-a"))
				assert.Equal(t, 50, s.Guardrails.CallsPerHour)
				assert.Equal(t, 5, s.Guardrails.NamespaceCallsPerHour)
			},
		},
		"* allows automatic mode everywhere": {
			args:  []string{"--automatic-mode-namespaces=*"},
			check: func(t *testing.T, s Settings) { assert.True(t, s.AutomaticModeAllowed("anything")) },
		},
		"the cluster-policy namespaces follow their flag": {
			args:  []string{"--cluster-policy-namespaces=ops"},
			check: func(t *testing.T, s Settings) { assert.Equal(t, []string{"ops"}, s.AutomaticModeNamespaces()) },
		},
		"bad cap":               {args: []string{"--max-risk-level=extreme"}, wantErr: `Settings.Guardrails.MaxRiskLevel=extreme fails rule "oneof"`},
		"bad namespace cap":     {args: []string{"--namespace-max-risk-levels=ops=extreme"}, wantErr: `fails rule "oneof"`},
		"malformed pair":        {args: []string{"--namespace-max-risk-levels=ops"}, wantErr: `"ops" is not namespace=level`},
		"zero budget":           {args: []string{"--analysis-calls-per-hour=0"}, wantErr: `Settings.Guardrails.CallsPerHour=0 fails rule "gte"`},
		"zero namespace budget": {args: []string{"--namespace-analysis-calls-per-hour=0"}, wantErr: `Settings.Guardrails.NamespaceCallsPerHour=0`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			checkParse(t, append([]string{"--namespace=dot-ai"}, tc.args...), nil, tc.wantErr, tc.check)
		})
	}
}

func TestRiskAbove(t *testing.T) {
	assert.True(t, RiskAbove(v1alpha1.RiskHigh, v1alpha1.RiskMedium))
	assert.True(t, RiskAbove(v1alpha1.RiskMedium, v1alpha1.RiskLow))
	assert.False(t, RiskAbove(v1alpha1.RiskMedium, v1alpha1.RiskMedium))
	assert.False(t, RiskAbove(v1alpha1.RiskLow, v1alpha1.RiskHigh))
	assert.False(t, RiskAbove("extreme", v1alpha1.RiskLow), "an unknown level is the enum check's to report")
}
