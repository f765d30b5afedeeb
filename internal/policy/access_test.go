package policy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/policy/policytest"
)

// TestAccessChecks: which accesses a policy's author needs (decision 20 (docs/design/decisions.md#d20)).
// Each check is written as Describe()@field.
func TestAccessChecks(t *testing.T) {
	gathered := map[string][]string{"apps": {"replicasets", "deployments"}, "": {"pods"}}
	secret := &v1alpha1.SecretKeyReference{Name: "x", Key: "token"}
	objects := []string{
		`list events in namespace "team-a"@spec.mcpEndpoint`,
		`get pods in namespace "team-a"@spec.mcpEndpoint`,
		`get deployments.apps in namespace "team-a"@spec.mcpEndpoint`,
		`get replicasets.apps in namespace "team-a"@spec.mcpEndpoint`,
	}
	logs := `get pods/log in namespace "team-a"@spec.contextGathering.includeLogs`
	secretGet := `get secrets "x" in namespace "team-a"@spec.mcpAuthSecretRef.name`
	cases := []struct {
		name     string
		ns       string
		spec     v1alpha1.RemediationPolicySpec
		defaults func(*v1alpha1.RemediationPolicySpec) // nil: built-in defaults (includeLogs true)
		want     []string
	}{
		{name: "installation endpoint, no secret: nothing", ns: "team-a"},
		{
			name: "installation endpoint with a secret: the secret only",
			ns:   "team-a",
			spec: v1alpha1.RemediationPolicySpec{McpAuthSecretRef: secret},
			want: []string{secretGet},
		},
		{
			name: "a dry run shows what it gathers: events, objects, logs",
			ns:   "team-a",
			spec: v1alpha1.RemediationPolicySpec{DryRun: new(true)},
			want: append(dryRunPaths(objects), `get pods/log in namespace "team-a"@spec.contextGathering.includeLogs`),
		},
		{
			name: "dryRun false is the installation endpoint's case",
			ns:   "team-a",
			spec: v1alpha1.RemediationPolicySpec{DryRun: new(false)},
		},
		{
			name: "own endpoint, logs by default: events, objects, logs, secret",
			ns:   "team-a",
			spec: v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.OtherEndpoint, McpAuthSecretRef: secret},
			want: append(append([]string{secretGet}, objects...), logs),
		},
		{
			name: "own endpoint naming an allowed endpoint still counts as its own",
			ns:   "team-a",
			spec: v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.AllowedPrefix + "x"},
			want: append(append([]string{}, objects...), logs),
		},
		{
			name: "own endpoint without logs",
			ns:   "team-a",
			spec: v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.OtherEndpoint, McpAuthSecretRef: secret,
				ContextGathering: &v1alpha1.ContextGathering{IncludeLogs: new(false)}},
			want: append([]string{secretGet}, objects...),
		},
		{
			name: "own endpoint with metrics",
			ns:   "team-a",
			spec: v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.OtherEndpoint, McpAuthSecretRef: secret,
				ContextGathering: &v1alpha1.ContextGathering{IncludeLogs: new(false), IncludeMetrics: new(true)}},
			want: append(append([]string{secretGet}, objects...),
				`get pods.metrics.k8s.io in namespace "team-a"@spec.contextGathering.includeMetrics`),
		},
		{
			name: "namespaceSelector: all namespaces, but the secret stays in the policy's namespace",
			ns:   "dot-ai",
			spec: v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.OtherEndpoint, McpAuthSecretRef: secret,
				NamespaceSelector: &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{"tier": "prod"}}},
			want: []string{
				`get secrets "x" in namespace "dot-ai"@spec.mcpAuthSecretRef.name`,
				`list events in all namespaces@spec.mcpEndpoint`,
				`get pods in all namespaces@spec.mcpEndpoint`,
				`get deployments.apps in all namespaces@spec.mcpEndpoint`,
				`get replicasets.apps in all namespaces@spec.mcpEndpoint`,
				`get pods/log in all namespaces@spec.contextGathering.includeLogs`,
			},
		},
		{
			name: "notifications: get on each Secret, and pods/log since the analysis comes from logs",
			ns:   "team-a",
			spec: v1alpha1.RemediationPolicySpec{Notifications: &v1alpha1.Notifications{
				Slack:   &v1alpha1.NotificationDestination{WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "chat", Key: "url"}},
				Webhook: &v1alpha1.NotificationDestination{WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "hook", Key: "url"}},
			}},
			want: []string{
				`get secrets "chat" in namespace "team-a"@spec.notifications.slack.webhookUrlSecretRef.name`,
				`get secrets "hook" in namespace "team-a"@spec.notifications.webhook.webhookUrlSecretRef.name`,
				`get pods/log in namespace "team-a"@spec.notifications`,
			},
		},
		{
			name: "notifications with the policy's own endpoint: pods/log asked once, at the endpoint's field",
			ns:   "team-a",
			spec: v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.OtherEndpoint, McpAuthSecretRef: secret,
				Notifications: &v1alpha1.Notifications{
					GoogleChat: &v1alpha1.NotificationDestination{WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "x", Key: "url"}},
				}},
			want: append(append([]string{secretGet}, objects...), logs),
		},
		{
			name: "notifications without logs: the Secret only",
			ns:   "team-a",
			spec: v1alpha1.RemediationPolicySpec{ContextGathering: &v1alpha1.ContextGathering{IncludeLogs: new(false)},
				Notifications: &v1alpha1.Notifications{
					GoogleChat: &v1alpha1.NotificationDestination{WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "chat", Key: "url"}},
				}},
			want: []string{`get secrets "chat" in namespace "team-a"@spec.notifications.googleChat.webhookUrlSecretRef.name`},
		},
		{
			name: "namespaceSelector with the installation endpoint: nothing",
			ns:   "dot-ai",
			spec: v1alpha1.RemediationPolicySpec{NamespaceSelector: &v1alpha1.NamespaceSelector{}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: tc.ns, Name: "p"}, Spec: tc.spec}
			var got []string
			for _, c := range AccessChecks(policytest.Settings(), p, gathered) {
				got = append(got, c.Describe()+"@"+c.Field.String())
				assert.NotEmpty(t, c.Reason)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestAccessChecksFollowInstallationDefaults: a policy that leaves
// includeLogs unset (the watcher sees such a policy when it bypassed the
// defaulting webhook) is judged by the installation's default.
func TestAccessChecksFollowInstallationDefaults(t *testing.T) {
	p := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "p"},
		Spec: v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.OtherEndpoint}}
	for _, include := range []bool{true, false} {
		s := policytest.Settings()
		s.Defaults.IncludeLogs = include
		var logs bool
		for _, c := range AccessChecks(s, p, nil) {
			logs = logs || c.Attributes.Subresource == "log"
		}
		assert.Equal(t, include, logs, "default includeLogs %v", include)
	}
}

// dryRunPaths are the checks of an exporting policy, reported on
// spec.dryRun instead of spec.mcpEndpoint.
func dryRunPaths(checks []string) []string {
	out := make([]string, len(checks))
	for i, c := range checks {
		out[i] = strings.Replace(c, "@spec.mcpEndpoint", "@spec.dryRun", 1)
	}
	return out
}
