package config

import "dot-ai.io/controller/api/v1alpha1"

// Built-in policy defaults: what a bare installation fills into policies (the
// chart's policyDefaults say the same; test/helm checks that they agree).
// Code that needs a fallback for an unset installation default uses these,
// never a literal.
const (
	DefaultMode                = v1alpha1.ModeManual
	DefaultConfidenceThreshold = 0.8
	DefaultMaxRiskLevel        = v1alpha1.RiskLow
	DefaultMcpTool             = "remediate"
	DefaultEventsPerMinute     = int32(10)
	DefaultCooldownMinutes     = int32(5)
	// DefaultMinOccurrences 0: every occurrence is delivered (upstream's
	// default); the window applies once a policy sets minOccurrences.
	DefaultMinOccurrences          = int32(0)
	DefaultOccurrenceWindowSeconds = int32(300)
	DefaultIncludeLogs             = true
	DefaultLogLines                = int32(100)
	DefaultMaxLogBytes             = int64(65536)
	DefaultIncludePreviousLogs     = true
	DefaultIncludeRelatedEvents    = true
	DefaultLookbackMinutes         = int32(5)
	DefaultIncludeResourceSpec     = true
	DefaultIncludeMetrics          = false
	DefaultNotifyOnStart           = false
	DefaultNotifyOnComplete        = true
)

// Built-in guardrails (the chart's guardrails block says the same): automatic
// mode only in the cluster-policy namespaces (an empty list), risk up to
// medium, and a budget that a busy cluster rarely meets but that bounds what
// a storm of events, or many policies, can spend.
const (
	DefaultMaxRiskLevelCap       = v1alpha1.RiskMedium
	DefaultCallsPerHour          = 1000
	DefaultNamespaceCallsPerHour = 200
)

// DefaultGCPercent is the garbage collector's target (--gc-percent, GOGC)
// unless the GOGC variable is set: collecting at +50% instead of Go's +100%
// keeps the heap's peak near 1.5 times the live heap rather than twice, for
// little CPU (0.4% in the full-scale storm). +25% took 3 MiB off the storm's
// peak but 0.04 of a core more in make bench-enrich, whose p99 on this
// 2-core machine is bound by CPU (docs/reliability.md, "The storm's memory").
const DefaultGCPercent = 50
