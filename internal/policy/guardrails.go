package policy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// validateGuardrails rejects automatic mode outside the namespaces that allow
// it and, in automatic mode, a maxRiskLevel above the namespace's cap (manual
// mode never sends maxRiskLevel: dot-ai executes nothing). It judges the effective
// values (Resolve), so a mode or risk level that comes from policyDefaults
// counts as much as one written in the spec; the error sits on the field that
// sets it (a selector's override, else the policy's).
func validateGuardrails(s *config.Settings, p *v1alpha1.RemediationPolicy, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	add := func(path *field.Path, msg string) {
		if !seen[path.String()] {
			seen[path.String()] = true
			errs = append(errs, field.Forbidden(path, msg))
		}
	}
	check := func(selector int, modePath, riskPath *field.Path) {
		mode, risk := GuardrailViolations(s, p.Namespace, Resolve(p, selector, s))
		if mode != "" {
			add(modePath, mode)
		}
		if risk != "" {
			add(riskPath, risk)
		}
	}
	check(NoSelector, specPath.Child("mode"), specPath.Child("maxRiskLevel"))
	for i := range p.Spec.EventSelectors {
		sel := &p.Spec.EventSelectors[i]
		sp := specPath.Child("eventSelectors").Index(i)
		modePath, riskPath := specPath.Child("mode"), specPath.Child("maxRiskLevel")
		if sel.Mode != "" {
			modePath = sp.Child("mode")
		}
		if sel.MaxRiskLevel != "" {
			riskPath = sp.Child("maxRiskLevel")
		}
		check(i, modePath, riskPath)
	}
	return errs
}

// GuardrailViolations judges effective settings e of a policy in ns against
// the installation's guardrails, for admission and again at delivery: mode
// is non-empty when automatic mode is not allowed there, risk when the
// maxRiskLevel is above the namespace's cap. Manual mode never violates
// them: dot-ai is sent no risk level and executes nothing.
func GuardrailViolations(s *config.Settings, ns string, e Effective) (mode, risk string) {
	if e.Mode != v1alpha1.ModeAutomatic {
		return "", ""
	}
	if !s.AutomaticModeAllowed(ns) {
		mode = AutomaticModeMessage(s, ns)
	}
	if config.RiskAbove(e.MaxRiskLevel, s.MaxRiskLevelFor(ns)) {
		risk = RiskCapMessage(s, ns, e.MaxRiskLevel)
	}
	return mode, risk
}

// AutomaticModeMessage says why a policy in ns may not run in automatic mode
// and which chart value allows it.
func AutomaticModeMessage(s *config.Settings, ns string) string {
	return fmt.Sprintf(MsgAutomaticModeForbidden, s.AutomaticModeNamespaces(), ns)
}

// RiskCapMessage says that level is above the cap of ns and which chart value
// sets that cap.
func RiskCapMessage(s *config.Settings, ns string, level v1alpha1.RiskLevel) string {
	value := "guardrails.maxRiskLevel.default"
	if _, ok := s.Guardrails.NamespaceMaxRiskLevels[ns]; ok {
		value = "guardrails.maxRiskLevel.namespaces." + ns
	}
	return fmt.Sprintf(MsgRiskAboveCap, level, ns, s.MaxRiskLevelFor(ns), value)
}
