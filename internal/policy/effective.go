package policy

import (
	"cmp"
	"time"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/mcp"
)

// NoSelector asks Resolve for the policy-level settings, without any
// selector's overrides.
const NoSelector = -1

// Effective is every setting in force for the events one selector of a
// policy matches, resolved once: the selector's override, else the policy's
// value, else the installation's default (the chart's policyDefaults), else
// the built-in default for an installation default left at its zero value.
// Nothing downstream re-derives a default.
type Effective struct {
	// Mode, ConfidenceThreshold and MaxRiskLevel may be overridden per
	// selector.
	Mode                v1alpha1.RemediationMode
	ConfidenceThreshold float64
	MaxRiskLevel        v1alpha1.RiskLevel

	// Endpoint is the policy's mcpEndpoint, else the installation's
	// endpoint, resolved now so `helm upgrade --set mcp.endpoint=…` reaches
	// existing policies (decision 1 (docs/design/decisions.md#d1)). Empty when neither is set.
	Endpoint string
	// EndpointAllowed reports whether Endpoint may receive the
	// installation's token (decision 1 (docs/design/decisions.md#d1)).
	EndpointAllowed bool
	// AuthSecretRef names the policy's own token; nil means the
	// installation's token, sent only when EndpointAllowed.
	AuthSecretRef *v1alpha1.SecretKeyReference
	// McpTool is the dot-ai tool called (see ToolURL).
	McpTool string

	// EventsPerMinute is the policy's token-bucket rate.
	EventsPerMinute int32
	// Cooldown holds back further events of the same object and reason
	// after a delivery; 0 disables it.
	Cooldown time.Duration
	// MinOccurrences (≤ 1: off) occurrences of one problem must happen
	// within OccurrenceWindow before one is delivered.
	MinOccurrences   int32
	OccurrenceWindow time.Duration

	// Context says what is gathered about an event.
	Context ContextGathering

	// Suspended is spec.suspend.
	Suspended bool
	// DryRun is spec.dryRun: build the request, send nothing.
	DryRun bool
}

// ContextGathering is a policy's contextGathering with defaults applied.
type ContextGathering struct {
	IncludeLogs          bool
	LogLines             int32
	MaxLogBytes          int64
	IncludePreviousLogs  bool
	IncludeRelatedEvents bool
	Lookback             time.Duration
	IncludeResourceSpec  bool
	IncludeMetrics       bool
}

// ToolURL is the URL the remediate call is POSTed to (see mcp.ToolURL).
func (e Effective) ToolURL() (string, error) { return mcp.ToolURL(e.Endpoint, e.McpTool) }

// Resolve works out the settings in force for events that selector (an index
// into spec.eventSelectors, or NoSelector) of p matches, under the
// installation's settings s.
//
// A limit set in the spec but not positive (only a policy that bypassed
// validation can carry one) counts as unset, and so does an installation
// default left at zero: a zero rate or log size would silently disable or
// unbound what it limits. cooldownMinutes 0 (no cooldown) and a confidence
// threshold of 0 (accept any confidence) are real values and are kept.
func Resolve(p *v1alpha1.RemediationPolicy, selector int, s *config.Settings) Effective {
	spec := &p.Spec
	d := s.Defaults
	var sel v1alpha1.EventSelector
	if selector >= 0 && selector < len(spec.EventSelectors) {
		sel = spec.EventSelectors[selector]
	}
	e := Effective{
		Mode:                cmp.Or(sel.Mode, spec.Mode, d.Mode, config.DefaultMode),
		ConfidenceThreshold: d.ConfidenceThreshold, // 0 is a legal threshold, not "unset"
		MaxRiskLevel:        cmp.Or(sel.MaxRiskLevel, spec.MaxRiskLevel, d.MaxRiskLevel, config.DefaultMaxRiskLevel),
		Endpoint:            s.EffectiveEndpoint(spec.McpEndpoint),
		AuthSecretRef:       spec.McpAuthSecretRef,
		McpTool:             cmp.Or(spec.McpTool, d.McpTool, config.DefaultMcpTool),
		EventsPerMinute:     positiveOr(d.EventsPerMinute, config.DefaultEventsPerMinute),
		Cooldown:            minutes(d.CooldownMinutes),
		Suspended:           spec.Suspend != nil && *spec.Suspend,
		DryRun:              spec.DryRun != nil && *spec.DryRun,
	}
	e.EndpointAllowed = s.IsAllowedEndpoint(e.Endpoint)
	if t := firstSet(sel.ConfidenceThreshold, spec.ConfidenceThreshold); t != nil {
		e.ConfidenceThreshold = *t
	}
	if rl := spec.RateLimiting; rl != nil {
		if rl.EventsPerMinute != nil && *rl.EventsPerMinute > 0 {
			e.EventsPerMinute = *rl.EventsPerMinute
		}
		if rl.CooldownMinutes != nil {
			e.Cooldown = minutes(*rl.CooldownMinutes)
		}
	}
	e.MinOccurrences = valueOr(firstSet(sel.MinOccurrences, spec.MinOccurrences), d.MinOccurrences)
	e.OccurrenceWindow = time.Duration(positiveOr(valueOr(firstSet(sel.OccurrenceWindowSeconds, spec.OccurrenceWindowSeconds), d.OccurrenceWindowSeconds),
		config.DefaultOccurrenceWindowSeconds)) * time.Second
	e.Context = resolveContext(spec.ContextGathering, d)
	return e
}

func resolveContext(cg *v1alpha1.ContextGathering, d config.PolicyDefaults) ContextGathering {
	if cg == nil {
		cg = &v1alpha1.ContextGathering{}
	}
	c := ContextGathering{
		IncludeLogs:          valueOr(cg.IncludeLogs, d.IncludeLogs),
		LogLines:             cmp.Or(d.LogLines, config.DefaultLogLines),
		MaxLogBytes:          cmp.Or(d.MaxLogBytes, config.DefaultMaxLogBytes),
		IncludePreviousLogs:  valueOr(cg.IncludePreviousLogs, d.IncludePreviousLogs),
		IncludeRelatedEvents: valueOr(cg.IncludeRelatedEvents, d.IncludeRelatedEvents),
		Lookback:             minutes(cmp.Or(d.LookbackMinutes, config.DefaultLookbackMinutes)),
		IncludeResourceSpec:  valueOr(cg.IncludeResourceSpec, d.IncludeResourceSpec),
		IncludeMetrics:       valueOr(cg.IncludeMetrics, d.IncludeMetrics),
	}
	if cg.LogLines != nil && *cg.LogLines > 0 {
		c.LogLines = *cg.LogLines
	}
	if cg.MaxLogBytes != nil && *cg.MaxLogBytes > 0 {
		c.MaxLogBytes = *cg.MaxLogBytes
	}
	if cg.LookbackMinutes != nil && *cg.LookbackMinutes > 0 {
		c.Lookback = minutes(*cg.LookbackMinutes)
	}
	return c
}

func minutes(n int32) time.Duration { return time.Duration(n) * time.Minute }

func valueOr[T any](p *T, def T) T {
	if p != nil {
		return *p
	}
	return def
}

func firstSet[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func positiveOr(v, def int32) int32 {
	if v > 0 {
		return v
	}
	return def
}
