// Package policytest holds the settings, policy defaults and fixtures that the
// tests of internal/policy, internal/webhook and internal/watcher share.
package policytest

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

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

// Bare is the built-in defaults with the installation in namespace dot-ai
// (its only cluster-policy namespace) and no endpoint.
func Bare() *config.Settings {
	s := config.Default()
	s.Namespace = "dot-ai"
	return &s
}

// Installation is Bare with the installation's endpoint InstallEndpoint.
func Installation() *config.Settings {
	s := Bare()
	s.MCPEndpoint = InstallEndpoint
	return s
}

// Settings are Installation with an allow-list and two cluster-policy
// namespaces (dot-ai and platform). Its guardrails allow automatic mode and
// every risk level everywhere but in GuardedNamespace, so the tests of other
// rules are not about them.
func Settings() *config.Settings {
	s := Installation()
	s.MCPAllowedEndpoints = []string{AllowedPrefix + "*"}
	s.ClusterPolicyNamespaces = []string{"dot-ai", "platform"}
	s.Guardrails.AutomaticModeNamespaces = []string{config.AllNamespaces}
	s.Guardrails.MaxRiskLevel = v1alpha1.RiskHigh
	s.Guardrails.NamespaceMaxRiskLevels = map[string]v1alpha1.RiskLevel{GuardedNamespace: v1alpha1.RiskMedium}
	return s
}

// GuardedNamespace is where Settings caps maxRiskLevel at medium.
const GuardedNamespace = "guarded"

// CustomPolicyDefaults differ from every built-in default, so tests prove
// that defaults are read from Settings and not from constants.
func CustomPolicyDefaults() config.PolicyDefaults {
	return config.PolicyDefaults{
		Mode:                    v1alpha1.ModeAutomatic,
		ConfidenceThreshold:     0.65,
		MaxRiskLevel:            v1alpha1.RiskMedium,
		McpTool:                 "remediate_custom",
		EventsPerMinute:         42,
		CooldownMinutes:         7,
		MinOccurrences:          3,
		OccurrenceWindowSeconds: 120,
		IncludeLogs:             false,
		LogLines:                250,
		MaxLogBytes:             4096,
		IncludePreviousLogs:     false,
		IncludeRelatedEvents:    false,
		LookbackMinutes:         13,
		IncludeResourceSpec:     false,
		IncludeMetrics:          true,
	}
}

// Policy is a policy named p (UID puid) in namespace ns with the given
// selectors and nothing else set.
func Policy(ns string, sels ...v1alpha1.EventSelector) *v1alpha1.RemediationPolicy {
	return &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p", UID: "puid"},
		Spec:       v1alpha1.RemediationPolicySpec{EventSelectors: sels},
	}
}

// Event is an event of type typ and reason about the object kind/name in
// namespace ns, named name.1 with UID uid-name.
func Event(ns, typ, reason, kind, name, msg string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name + ".1", UID: types.UID("uid-" + name)},
		Type:           typ,
		Reason:         reason,
		Message:        msg,
		InvolvedObject: corev1.ObjectReference{Kind: kind, Name: name, Namespace: ns},
	}
}
