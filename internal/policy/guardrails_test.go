package policy

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// guardedSettings are the built-in guardrails (automatic mode only in the
// cluster-policy namespaces dot-ai and platform, risk up to medium) with
// platform allowed high risk.
func guardedSettings() *config.Settings {
	s := testSettings()
	s.Guardrails = config.Default().Guardrails
	s.Guardrails.NamespaceMaxRiskLevels = map[string]v1alpha1.RiskLevel{"platform": v1alpha1.RiskHigh}
	return s
}

func TestValidateGuardrails(t *testing.T) {
	s := guardedSettings()
	autoMsg := fmt.Sprintf(MsgAutomaticModeForbidden, []string{"dot-ai", "platform"}, "team-a")
	riskMsg := func(ns string, level, limit v1alpha1.RiskLevel, value string) string {
		return fmt.Sprintf(MsgRiskAboveCap, level, ns, limit, value)
	}
	tests := []struct {
		name     string
		mutate   func(p *v1alpha1.RemediationPolicy)
		defaults func(d *config.PolicyDefaults)
		errs     field.ErrorList
	}{
		{name: "manual medium in a tenant namespace passes", mutate: func(p *v1alpha1.RemediationPolicy) {
			p.Spec.Mode, p.Spec.MaxRiskLevel = v1alpha1.ModeManual, v1alpha1.RiskMedium
		}},
		{name: "automatic in a cluster-policy namespace passes", mutate: func(p *v1alpha1.RemediationPolicy) {
			p.Namespace, p.Spec.Mode = "dot-ai", v1alpha1.ModeAutomatic
		}},
		{name: "high risk where the namespace's cap allows it passes", mutate: func(p *v1alpha1.RemediationPolicy) {
			p.Namespace, p.Spec.Mode, p.Spec.MaxRiskLevel = "platform", v1alpha1.ModeAutomatic, v1alpha1.RiskHigh
		}},
		{
			name:   "automatic in a tenant namespace is rejected on spec.mode",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.Mode = v1alpha1.ModeAutomatic },
			errs:   field.ErrorList{field.Forbidden(specPath.Child("mode"), autoMsg)},
		},
		{
			name: "a selector's automatic override is rejected on the selector",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.Mode = v1alpha1.ModeManual
				p.Spec.EventSelectors[0].Mode = v1alpha1.ModeAutomatic
			},
			errs: field.ErrorList{field.Forbidden(sel0("mode"), autoMsg)},
		},
		{
			name:     "automatic mode from policyDefaults counts too",
			mutate:   func(*v1alpha1.RemediationPolicy) {},
			defaults: func(d *config.PolicyDefaults) { d.Mode = v1alpha1.ModeAutomatic },
			errs:     field.ErrorList{field.Forbidden(specPath.Child("mode"), autoMsg)},
		},
		{
			name: "a selector back to manual is not an error of its own",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.Mode = v1alpha1.ModeAutomatic
				p.Spec.EventSelectors[0].Mode = v1alpha1.ModeManual
			},
			errs: field.ErrorList{field.Forbidden(specPath.Child("mode"), autoMsg)},
		},
		{name: "high risk in manual mode passes: dot-ai is not sent it and executes nothing", mutate: func(p *v1alpha1.RemediationPolicy) {
			p.Spec.Mode, p.Spec.MaxRiskLevel = v1alpha1.ModeManual, v1alpha1.RiskHigh
		}},
		{
			name: "automatic with high risk above the default cap names guardrails.maxRiskLevel.default",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Namespace, p.Spec.Mode, p.Spec.MaxRiskLevel = "dot-ai", v1alpha1.ModeAutomatic, v1alpha1.RiskHigh
			},
			errs: field.ErrorList{field.Forbidden(specPath.Child("maxRiskLevel"),
				riskMsg("dot-ai", v1alpha1.RiskHigh, v1alpha1.RiskMedium, "guardrails.maxRiskLevel.default"))},
		},
		{
			name: "a selector's risk override above a namespace's own cap names that namespace's value",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Namespace = "platform"
				s.Guardrails.NamespaceMaxRiskLevels["platform"] = v1alpha1.RiskLow
				p.Spec.Mode, p.Spec.MaxRiskLevel = v1alpha1.ModeAutomatic, v1alpha1.RiskLow
				p.Spec.EventSelectors[0].MaxRiskLevel = v1alpha1.RiskMedium
			},
			errs: field.ErrorList{field.Forbidden(sel0("maxRiskLevel"),
				riskMsg("platform", v1alpha1.RiskMedium, v1alpha1.RiskLow, "guardrails.maxRiskLevel.namespaces.platform"))},
		},
		{
			name:   "a selector switching to automatic brings the policy's risk level under the cap",
			mutate: automaticSelector(v1alpha1.RiskHigh),
			errs: field.ErrorList{field.Forbidden(sel0("maxRiskLevel"),
				riskMsg("dot-ai", v1alpha1.RiskHigh, v1alpha1.RiskMedium, "guardrails.maxRiskLevel.default"))},
		},
		{
			name:   "a selector switching to automatic that inherits the policy's risk level is rejected on spec.maxRiskLevel",
			mutate: automaticSelector(""),
			errs: field.ErrorList{field.Forbidden(specPath.Child("maxRiskLevel"),
				riskMsg("dot-ai", v1alpha1.RiskHigh, v1alpha1.RiskMedium, "guardrails.maxRiskLevel.default"))},
		},
		{
			name: "two selectors in automatic mode inheriting the policy's mode are one error",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.Mode = v1alpha1.ModeAutomatic
				p.Spec.EventSelectors = append(p.Spec.EventSelectors, v1alpha1.EventSelector{Reason: "Failed"})
			},
			errs: field.ErrorList{field.Forbidden(specPath.Child("mode"), autoMsg)},
		},
		{
			name:     "risk from policyDefaults counts too",
			mutate:   func(p *v1alpha1.RemediationPolicy) { p.Namespace = "dot-ai" },
			defaults: func(d *config.PolicyDefaults) { d.Mode, d.MaxRiskLevel = v1alpha1.ModeAutomatic, v1alpha1.RiskHigh },
			errs: field.ErrorList{field.Forbidden(specPath.Child("maxRiskLevel"),
				riskMsg("dot-ai", v1alpha1.RiskHigh, v1alpha1.RiskMedium, "guardrails.maxRiskLevel.default"))},
		},
		{
			name: "automatic and high risk in a tenant namespace are two errors",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.Mode, p.Spec.MaxRiskLevel = v1alpha1.ModeAutomatic, v1alpha1.RiskHigh
			},
			errs: field.ErrorList{
				field.Forbidden(specPath.Child("mode"), autoMsg),
				field.Forbidden(specPath.Child("maxRiskLevel"),
					riskMsg("team-a", v1alpha1.RiskHigh, v1alpha1.RiskMedium, "guardrails.maxRiskLevel.default")),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s = guardedSettings()
			if tc.defaults != nil {
				tc.defaults(&s.Defaults)
			}
			p := validPolicy()
			tc.mutate(p)
			errs, _ := Validate(s, nil, p)
			assert.ElementsMatch(t, tc.errs, errs)
		})
	}
}

func TestGuardrailMessagesNameTheChartValue(t *testing.T) {
	s := guardedSettings()
	assert.Contains(t, AutomaticModeMessage(s, "team-a"), "guardrails.automaticModeNamespaces")
	assert.Contains(t, RiskCapMessage(s, "team-a", v1alpha1.RiskHigh), "guardrails.maxRiskLevel.default")
	assert.Contains(t, RiskCapMessage(s, "platform", v1alpha1.RiskHigh), "guardrails.maxRiskLevel.namespaces.platform")
}

// automaticSelector makes a manual, high-risk policy in dot-ai whose first
// selector switches to automatic with selectorRisk ("" inherits the
// policy's).
func automaticSelector(selectorRisk v1alpha1.RiskLevel) func(p *v1alpha1.RemediationPolicy) {
	return func(p *v1alpha1.RemediationPolicy) {
		p.Namespace = "dot-ai"
		p.Spec.Mode, p.Spec.MaxRiskLevel = v1alpha1.ModeManual, v1alpha1.RiskHigh
		p.Spec.EventSelectors[0].Mode = v1alpha1.ModeAutomatic
		p.Spec.EventSelectors[0].MaxRiskLevel = selectorRisk
	}
}
