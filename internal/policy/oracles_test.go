package policy

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/mcp"
)

// The oracles below are the effective-value logic of each place that worked
// it out before Resolve, copied as it stood (the watcher, the deliverer and
// the enricher now read Resolve's result). Resolve must agree with every one.

// oracleWatcherEventsPerMinute is internal/watcher/state.go eventsPerMinute.
func oracleWatcherEventsPerMinute(p *v1alpha1.RemediationPolicy, s *config.Settings) int32 {
	if rl := p.Spec.RateLimiting; rl != nil && rl.EventsPerMinute != nil && *rl.EventsPerMinute > 0 {
		return *rl.EventsPerMinute
	}
	if s.Defaults.EventsPerMinute > 0 {
		return s.Defaults.EventsPerMinute
	}
	return 10
}

// oracleWatcherCooldown is internal/watcher/state.go cooldown.
func oracleWatcherCooldown(p *v1alpha1.RemediationPolicy, s *config.Settings) time.Duration {
	if rl := p.Spec.RateLimiting; rl != nil && rl.CooldownMinutes != nil {
		return time.Duration(*rl.CooldownMinutes) * time.Minute
	}
	return time.Duration(s.Defaults.CooldownMinutes) * time.Minute
}

// oracleRequest is what internal/watcher/state.go request puts in the
// delivery request.
type oracleRequest struct {
	mode      v1alpha1.RemediationMode
	risk      v1alpha1.RiskLevel
	threshold float64
}

func oracleWatcherRequest(p *v1alpha1.RemediationPolicy, idx int, s *config.Settings) oracleRequest {
	sel := p.Spec.EventSelectors[idx]
	mode := cmp.Or(sel.Mode, p.Spec.Mode, s.Defaults.Mode)
	risk := cmp.Or(sel.MaxRiskLevel, p.Spec.MaxRiskLevel, s.Defaults.MaxRiskLevel)
	threshold := s.Defaults.ConfidenceThreshold
	if p.Spec.ConfidenceThreshold != nil {
		threshold = *p.Spec.ConfidenceThreshold
	}
	if sel.ConfidenceThreshold != nil {
		threshold = *sel.ConfidenceThreshold
	}
	return oracleRequest{mode, risk, threshold}
}

// oracleRemediationBody is what internal/remediation/remediation.go
// BuildRequest and effectiveThreshold send for that request.
func oracleRemediationBody(req oracleRequest) oracleRequest {
	mode := req.mode
	if mode == "" {
		mode = v1alpha1.ModeManual
	}
	risk := req.risk
	if risk == "" {
		risk = v1alpha1.RiskLow
	}
	// Issue 15: a threshold of 0 is legal and sent as 0; before, an
	// installation default of 0 was replaced by 0.8.
	threshold := req.threshold
	return oracleRequest{mode, risk, threshold}
}

// oracleRemediationToolURL is internal/remediation/remediation.go Deliver's
// tool with mcp.ToolURL's fallback.
func oracleRemediationToolURL(p *v1alpha1.RemediationPolicy, s *config.Settings) (string, error) {
	tool := p.Spec.McpTool
	if tool == "" {
		tool = s.Defaults.McpTool
	}
	if tool == "" {
		tool = "remediate"
	}
	return mcp.ToolURL(s.EffectiveEndpoint(p.Spec.McpEndpoint), tool)
}

// oracleGathering is internal/enricher/enricher.go resolve.
func oracleGathering(cg *v1alpha1.ContextGathering, d config.PolicyDefaults) ContextGathering {
	if cg == nil {
		cg = &v1alpha1.ContextGathering{}
	}
	b := func(p *bool, def bool) bool {
		if p != nil {
			return *p
		}
		return def
	}
	g := ContextGathering{
		IncludeLogs:          b(cg.IncludeLogs, d.IncludeLogs),
		IncludePreviousLogs:  b(cg.IncludePreviousLogs, d.IncludePreviousLogs),
		IncludeRelatedEvents: b(cg.IncludeRelatedEvents, d.IncludeRelatedEvents),
		IncludeResourceSpec:  b(cg.IncludeResourceSpec, d.IncludeResourceSpec),
		IncludeMetrics:       b(cg.IncludeMetrics, d.IncludeMetrics),
		LogLines:             cmp.Or(d.LogLines, 100),
		MaxLogBytes:          cmp.Or(d.MaxLogBytes, 65536),
		Lookback:             time.Duration(cmp.Or(d.LookbackMinutes, 5)) * time.Minute,
	}
	if cg.LogLines != nil && *cg.LogLines > 0 {
		g.LogLines = *cg.LogLines
	}
	if cg.MaxLogBytes != nil && *cg.MaxLogBytes > 0 {
		g.MaxLogBytes = *cg.MaxLogBytes
	}
	if cg.LookbackMinutes != nil && *cg.LookbackMinutes > 0 {
		g.Lookback = time.Duration(*cg.LookbackMinutes) * time.Minute
	}
	return g
}

// oraclePolicyWarnings is the webhook's policyWarnings before Resolve.
func oraclePolicyWarnings(s *config.Settings, spec *v1alpha1.RemediationPolicySpec) []string {
	var w []string
	d := s.Defaults
	mode := spec.Mode
	if mode == "" {
		mode = d.Mode
	}
	risk := spec.MaxRiskLevel
	if risk == "" {
		risk = d.MaxRiskLevel
	}
	confidence := d.ConfidenceThreshold
	if spec.ConfidenceThreshold != nil {
		confidence = *spec.ConfidenceThreshold
	}
	cooldown := d.CooldownMinutes
	if spec.RateLimiting != nil && spec.RateLimiting.CooldownMinutes != nil {
		cooldown = *spec.RateLimiting.CooldownMinutes
	}
	if mode == v1alpha1.ModeAutomatic {
		if risk == v1alpha1.RiskHigh {
			w = append(w, WarnAutomaticHighRisk)
		}
		if confidence < 0.5 {
			w = append(w, WarnAutomaticLowConfidence)
		}
		if cooldown == 0 {
			w = append(w, WarnAutomaticNoCooldown)
		}
	}
	logLines, includeLogs := d.LogLines, d.IncludeLogs
	if cg := spec.ContextGathering; cg != nil {
		if cg.LogLines != nil {
			logLines = *cg.LogLines
		}
		if cg.IncludeLogs != nil {
			includeLogs = *cg.IncludeLogs
		}
	}
	if includeLogs && logLines > largeLogLines {
		w = append(w, fmt.Sprintf(WarnLargeLogLines, largeLogLines))
	}
	if spec.Suspend != nil && *spec.Suspend {
		w = append(w, WarnSuspended)
	}
	return w
}

// oracleSelectorAutomaticHighRisk is the mode/risk part of the webhook's
// selectorWarnings before Resolve.
func oracleSelectorAutomaticHighRisk(p *v1alpha1.RemediationPolicy, sel *v1alpha1.EventSelector) bool {
	mode := sel.Mode
	if mode == "" {
		mode = p.Spec.Mode
	}
	risk := sel.MaxRiskLevel
	if risk == "" {
		risk = p.Spec.MaxRiskLevel
	}
	return (sel.Mode != "" || sel.MaxRiskLevel != "") && mode == v1alpha1.ModeAutomatic && risk == v1alpha1.RiskHigh
}

func selectorAutomaticHighRisk(s *config.Settings, p *v1alpha1.RemediationPolicy, i int) bool {
	want := fmt.Sprintf(WarnSelectorAutomaticHighRisk, i)
	return slices.Contains(selectorWarnings(s, p, i, &p.Spec.EventSelectors[i]), want)
}
