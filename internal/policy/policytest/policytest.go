// Package policytest holds the settings and policy defaults that the tests of
// internal/policy and internal/webhook share.
package policytest

import (
	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// Endpoints of Settings: the installation's, a prefix of its allow-list, and
// one outside it.
const (
	InstallEndpoint = "http://dot-ai.dot-ai.svc:3456/api/v1/tools/remediate"
	AllowedPrefix   = "http://127.0.0.1:3456/"
	OtherEndpoint   = "http://127.0.0.2:3456/api/v1/tools/remediate"
)

// Settings are the built-in defaults with an installation endpoint, an
// allow-list and two cluster-policy namespaces (dot-ai and platform).
func Settings() *config.Settings {
	s := config.Default()
	s.Namespace = "dot-ai"
	s.MCPEndpoint = InstallEndpoint
	s.MCPAllowedEndpoints = []string{AllowedPrefix + "*"}
	s.ClusterPolicyNamespaces = []string{"dot-ai", "platform"}
	return &s
}

// CustomPolicyDefaults differ from every built-in default, so tests prove
// that defaults are read from Settings and not from constants.
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
