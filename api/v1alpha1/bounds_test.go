package v1alpha1

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// crdSchema is the openAPIV3Schema of the generated CRD (config/crd).
func crdSchema(t *testing.T) map[string]any {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "config", "crd", "remediation.dot-ai.io_remediationpolicies.yaml"))
	require.NoError(t, err)
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(data, &crd))
	for _, v := range crd.Spec.Versions {
		if v.Name == GroupVersion.Version {
			return v.Schema.OpenAPIV3Schema
		}
	}
	require.FailNow(t, "no version "+GroupVersion.Version+" in the CRD")
	return nil
}

// schemaAt walks a dotted path of property names; "[]" steps into a list's
// items.
func schemaAt(t *testing.T, root map[string]any, path string) map[string]any {
	t.Helper()
	node := root
	for part := range strings.SplitSeq(path, ".") {
		name, items := strings.CutSuffix(part, "[]")
		props, _ := node["properties"].(map[string]any)
		next, ok := props[name].(map[string]any)
		require.True(t, ok, "no property %s in the CRD schema (at %s)", name, path)
		node = next
		if items {
			node, ok = node["items"].(map[string]any)
			require.True(t, ok, "%s has no items", path)
		}
	}
	return node
}

// TestCRDBoundsMatchConstants ties every kubebuilder bound marker, which must
// be a literal, to the constant the Go code uses. Adding a bound marker means
// adding its row here.
func TestCRDBoundsMatchConstants(t *testing.T) {
	tests := []struct {
		path, keyword string
		want          any
	}{
		{"spec.eventSelectors", "minItems", MinEventSelectors},
		{"spec.eventSelectors", "maxItems", MaxEventSelectors},
		{"spec.excludeSelectors", "maxItems", MaxExcludeSelectors},
		{"spec.minOccurrences", "minimum", MinMinOccurrences},
		{"spec.minOccurrences", "maximum", MaxMinOccurrences},
		{"spec.occurrenceWindowSeconds", "minimum", MinOccurrenceWindowSeconds},
		{"spec.occurrenceWindowSeconds", "maximum", MaxOccurrenceWindowSeconds},
		{"spec.eventSelectors[].minOccurrences", "minimum", MinMinOccurrences},
		{"spec.eventSelectors[].minOccurrences", "maximum", MaxMinOccurrences},
		{"spec.eventSelectors[].occurrenceWindowSeconds", "minimum", MinOccurrenceWindowSeconds},
		{"spec.eventSelectors[].occurrenceWindowSeconds", "maximum", MaxOccurrenceWindowSeconds},
		{"spec.eventSelectors[].reason", "maxLength", MaxSelectorReasonLength},
		{"spec.eventSelectors[].involvedObjectKind", "maxLength", MaxSelectorKindLength},
		{"spec.eventSelectors[].namespace", "maxLength", MaxSelectorNamespaceLength},
		{"spec.eventSelectors[].message", "maxLength", MaxSelectorMessageLength},
		{"spec.eventSelectors[].expression", "maxLength", MaxExpressionLength},
		{"spec.eventSelectors[].confidenceThreshold", "minimum", MinConfidenceThreshold},
		{"spec.eventSelectors[].confidenceThreshold", "maximum", MaxConfidenceThreshold},
		{"spec.confidenceThreshold", "minimum", MinConfidenceThreshold},
		{"spec.confidenceThreshold", "maximum", MaxConfidenceThreshold},
		{"spec.contextGathering.logLines", "minimum", MinLogLines},
		{"spec.contextGathering.logLines", "maximum", MaxLogLines},
		{"spec.contextGathering.maxLogBytes", "minimum", MinMaxLogBytes},
		{"spec.contextGathering.maxLogBytes", "maximum", MaxMaxLogBytes},
		{"spec.contextGathering.lookbackMinutes", "minimum", MinLookbackMinutes},
		{"spec.contextGathering.lookbackMinutes", "maximum", MaxLookbackMinutes},
		{"spec.mcpAuthSecretRef.name", "minLength", MinSecretRefLength},
		{"spec.mcpAuthSecretRef.name", "maxLength", MaxSecretRefNameLength},
		{"spec.mcpAuthSecretRef.key", "minLength", MinSecretRefLength},
		{"spec.mcpAuthSecretRef.key", "maxLength", MaxSecretRefKeyLength},
		{"spec.rateLimiting.eventsPerMinute", "minimum", MinEventsPerMinute},
		{"spec.rateLimiting.eventsPerMinute", "maximum", MaxEventsPerMinute},
		{"spec.rateLimiting.cooldownMinutes", "minimum", MinCooldownMinutes},
		{"spec.rateLimiting.cooldownMinutes", "maximum", MaxCooldownMinutes},
		{"spec.namespaceSelector.matchLabels", "maxProperties", MaxNamespaceSelectorLabels},
		{"spec.namespaceSelector.matchExpressions", "maxItems", MaxNamespaceSelectorExpressions},
		{"spec.namespaceSelector.matchExpressions[].key", "maxLength", MaxNamespaceSelectorKeyLength},
		{"spec.namespaceSelector.matchExpressions[].values", "maxItems", MaxNamespaceSelectorValues},
		{"spec.namespaceSelector.matchExpressions[].values[]", "maxLength", MaxNamespaceSelectorValueLength},
		{"spec.mcpEndpoint", "maxLength", MaxEndpointLength},
		{"spec.mcpTool", "maxLength", MaxMcpToolLength},
		{"spec.mcpTool", "pattern", McpToolPattern},
		{"spec.notifications.slack.webhookUrl", "maxLength", MaxNotificationURLLength},
		{"spec.notifications.slack.webhookUrlSecretRef.name", "maxLength", MaxSecretRefNameLength},
		{"spec.notifications.slack.webhookUrlSecretRef.key", "maxLength", MaxSecretRefKeyLength},
		{"spec.notifications.slack.filter.outcomes", "maxItems", MaxNotificationFilterKinds},
		{"spec.notifications.googleChat.webhookUrl", "maxLength", MaxNotificationURLLength},
		{"spec.notifications.googleChat.webhookUrlSecretRef.name", "maxLength", MaxSecretRefNameLength},
		{"spec.notifications.googleChat.webhookUrlSecretRef.key", "maxLength", MaxSecretRefKeyLength},
		{"spec.notifications.googleChat.filter.outcomes", "maxItems", MaxNotificationFilterKinds},
		{"spec.notifications.webhook.webhookUrl", "maxLength", MaxNotificationURLLength},
		{"spec.notifications.webhook.webhookUrlSecretRef.name", "maxLength", MaxSecretRefNameLength},
		{"spec.notifications.webhook.webhookUrlSecretRef.key", "maxLength", MaxSecretRefKeyLength},
		{"spec.notifications.webhook.filter.outcomes", "maxItems", MaxNotificationFilterKinds},
		{"status.conditions", "maxItems", MaxConditions},
		{"status.effectiveMcpEndpoint", "maxLength", MaxEndpointLength},
		{"status.recentOutcomes", "maxItems", MaxRecentOutcomes},
		{"status.recentOutcomes[].event", "maxLength", MaxOutcomeEventLength},
		{"status.recentOutcomes[].reason", "maxLength", MaxOutcomeReasonLength},
		{"status.recentOutcomes[].involvedObject", "maxLength", MaxOutcomeInvolvedObjectLength},
		{"status.recentOutcomes[].mcpStatus", "maxLength", MaxOutcomeMcpStatusLength},
		{"status.recentOutcomes[].sessionId", "maxLength", MaxOutcomeSessionIDLength},
		{"status.recentOutcomes[].rootCause", "maxLength", MaxOutcomeRootCauseLength},
		{"status.recentOutcomes[].message", "maxLength", MaxOutcomeMessageLength},
		{"status.recentOutcomes[].remediation", "maxLength", MaxOutcomeRemediationLength},
	}
	schema := crdSchema(t)
	for _, tc := range tests {
		t.Run(tc.path+"/"+tc.keyword, func(t *testing.T) {
			got, ok := schemaAt(t, schema, tc.path)[tc.keyword]
			require.True(t, ok, "the CRD has no %s on %s", tc.keyword, tc.path)
			switch want := tc.want.(type) {
			case string:
				assert.Equal(t, want, got)
			case int:
				assert.EqualValues(t, want, got)
			case float64:
				assert.InDelta(t, want, got, 0)
			default:
				t.Fatalf("unexpected constant type %T", want)
			}
		})
	}
}

// TestConditionMessageFitsCRD: the controller's shortened Ready message must
// fit metav1.Condition's own bound.
func TestConditionMessageFitsCRD(t *testing.T) {
	limit := schemaAt(t, crdSchema(t), "status.conditions[].message")["maxLength"]
	require.NotNil(t, limit)
	assert.LessOrEqual(t, float64(MaxConditionMessageLength), limit)
}
