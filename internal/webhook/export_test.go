package webhook

import (
	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// CustomPolicyDefaults differ from every built-in default, so tests prove
// that defaults are read from Settings and not from constants. Exported for
// the external integration tests.
func CustomPolicyDefaults() config.PolicyDefaults {
	return config.PolicyDefaults{
		Mode:                 v1alpha1.ModeAutomatic,
		ConfidenceThreshold:  0.65,
		MaxRiskLevel:         v1alpha1.RiskMedium,
		McpTool:              "remediate_custom",
		EventsPerMinute:      42,
		CooldownMinutes:      7,
		IncludeLogs:          false,
		LogLines:             250,
		MaxLogBytes:          4096,
		IncludePreviousLogs:  false,
		IncludeRelatedEvents: false,
		LookbackMinutes:      13,
		IncludeResourceSpec:  false,
		IncludeMetrics:       true,
	}
}
