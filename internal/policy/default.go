package policy

import (
	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// Default fills every setting the user left empty from s.Defaults (the
// chart's policyDefaults, decision 2 (docs/design/decisions.md#d2)). It does not touch mcpEndpoint or
// mcpAuthSecretRef: empty means the installation's endpoint and token,
// resolved at delivery time (decision 1 (docs/design/decisions.md#d1)). Per-selector overrides are not
// defaulted: an empty override inherits the policy's value.
func Default(s *config.Settings, p *v1alpha1.RemediationPolicy) {
	d := s.Defaults
	spec := &p.Spec
	if spec.Mode == "" {
		spec.Mode = d.Mode
	}
	if spec.ConfidenceThreshold == nil {
		spec.ConfidenceThreshold = new(d.ConfidenceThreshold)
	}
	if spec.MaxRiskLevel == "" {
		spec.MaxRiskLevel = d.MaxRiskLevel
	}
	if spec.McpTool == "" {
		spec.McpTool = d.McpTool
	}
	if spec.RateLimiting == nil {
		spec.RateLimiting = &v1alpha1.RateLimiting{}
	}
	rl := spec.RateLimiting
	if rl.EventsPerMinute == nil {
		rl.EventsPerMinute = new(d.EventsPerMinute)
	}
	if rl.CooldownMinutes == nil {
		rl.CooldownMinutes = new(d.CooldownMinutes)
	}
	setInt32(&spec.MinOccurrences, d.MinOccurrences)
	setInt32(&spec.OccurrenceWindowSeconds, d.OccurrenceWindowSeconds)
	if spec.ContextGathering == nil {
		spec.ContextGathering = &v1alpha1.ContextGathering{}
	}
	cg := spec.ContextGathering
	setBool(&cg.IncludeLogs, d.IncludeLogs)
	setInt32(&cg.LogLines, d.LogLines)
	if cg.MaxLogBytes == nil {
		cg.MaxLogBytes = new(d.MaxLogBytes)
	}
	setBool(&cg.IncludePreviousLogs, d.IncludePreviousLogs)
	setBool(&cg.IncludeRelatedEvents, d.IncludeRelatedEvents)
	setInt32(&cg.LookbackMinutes, d.LookbackMinutes)
	setBool(&cg.IncludeResourceSpec, d.IncludeResourceSpec)
	setBool(&cg.IncludeMetrics, d.IncludeMetrics)
	defaultNotifications(d, spec.Notifications)
}

func setBool(p **bool, v bool) {
	if *p == nil {
		*p = new(v)
	}
}

func setInt32(p **int32, v int32) {
	if *p == nil {
		*p = new(v)
	}
}
