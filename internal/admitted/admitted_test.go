package admitted

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"dot-ai.io/controller/api/v1alpha1"
)

// fullSpec sets every field, with values that stress the encoding: a
// fraction, zeros, false, several map keys.
func fullSpec() v1alpha1.RemediationPolicySpec {
	return v1alpha1.RemediationPolicySpec{
		EventSelectors: []v1alpha1.EventSelector{
			{Type: v1alpha1.EventTypeWarning, Reason: "BackOff", InvolvedObjectKind: "Pod", Namespace: "a", Message: "^Back-off",
				Expression: `event.count > 2`, Mode: v1alpha1.ModeManual, ConfidenceThreshold: new(0.1), MaxRiskLevel: v1alpha1.RiskLow},
			{Reason: "Failed", ConfidenceThreshold: new(0.0)},
		},
		NamespaceSelector: &v1alpha1.NamespaceSelector{
			MatchLabels:      map[string]string{"z": "1", "a": "2", "m": "3"},
			MatchExpressions: []v1alpha1.NamespaceSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "dev"}}},
		},
		ContextGathering: &v1alpha1.ContextGathering{
			IncludeLogs: new(false), LogLines: new(int32(50)), MaxLogBytes: new(int64(1 << 40)), IncludePreviousLogs: new(true),
			IncludeRelatedEvents: new(false), LookbackMinutes: new(int32(0)), IncludeResourceSpec: new(true), IncludeMetrics: new(false),
		},
		McpEndpoint:         "http://127.0.0.2:3456/api/v1/tools/remediate",
		McpTool:             "remediate",
		McpAuthSecretRef:    &v1alpha1.SecretKeyReference{Name: "x", Key: "token"},
		Mode:                v1alpha1.ModeAutomatic,
		ConfidenceThreshold: new(0.8),
		MaxRiskLevel:        v1alpha1.RiskMedium,
		RateLimiting:        &v1alpha1.RateLimiting{EventsPerMinute: new(int32(10)), CooldownMinutes: new(int32(0))},
		Suspend:             new(false),
	}
}

// TestSpecHashSurvivesRoundTrips: the webhook hashes the typed object it
// decoded from the admission request; the watcher hashes what the informer
// decoded from the stored JSON, and tooling may go through unstructured
// objects or YAML. All must agree.
func TestSpecHashSurvivesRoundTrips(t *testing.T) {
	for name, spec := range map[string]v1alpha1.RemediationPolicySpec{
		"full":    fullSpec(),
		"minimal": {EventSelectors: []v1alpha1.EventSelector{{Reason: "BackOff"}}},
		"empty":   {},
	} {
		t.Run(name, func(t *testing.T) {
			want := SpecHash(spec)
			p := &v1alpha1.RemediationPolicy{
				TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "RemediationPolicy"},
				ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "p"},
				Spec:       spec,
			}

			// typed → unstructured → JSON (as stored) → unstructured → typed
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
			require.NoError(t, err)
			raw, err := json.Marshal(m)
			require.NoError(t, err)
			u := &unstructured.Unstructured{}
			require.NoError(t, u.UnmarshalJSON(raw))
			back := &v1alpha1.RemediationPolicy{}
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, back))
			assert.Equal(t, want, SpecHash(back.Spec), "through unstructured")

			// YAML, as kubectl apply sends it
			y, err := yaml.Marshal(p)
			require.NoError(t, err)
			fromYAML := &v1alpha1.RemediationPolicy{}
			require.NoError(t, yaml.Unmarshal(y, fromYAML))
			assert.Equal(t, want, SpecHash(fromYAML.Spec), "through YAML")
		})
	}
}

// TestSpecHashTellsSpecsApart: any change of the spec changes the hash, a
// pointer to false is not unset, and map order does not matter.
func TestSpecHashTellsSpecsApart(t *testing.T) {
	base := SpecHash(fullSpec())
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, base)
	changes := map[string]func(*v1alpha1.RemediationPolicySpec){
		"endpoint":           func(s *v1alpha1.RemediationPolicySpec) { s.McpEndpoint += "x" },
		"secret name":        func(s *v1alpha1.RemediationPolicySpec) { s.McpAuthSecretRef.Name = "y" },
		"includeLogs unset":  func(s *v1alpha1.RemediationPolicySpec) { s.ContextGathering.IncludeLogs = nil },
		"includeLogs true":   func(s *v1alpha1.RemediationPolicySpec) { s.ContextGathering.IncludeLogs = new(true) },
		"selector threshold": func(s *v1alpha1.RemediationPolicySpec) { s.EventSelectors[1].ConfidenceThreshold = nil },
		"namespaceSelector":  func(s *v1alpha1.RemediationPolicySpec) { s.NamespaceSelector = nil },
		"label value":        func(s *v1alpha1.RemediationPolicySpec) { s.NamespaceSelector.MatchLabels["a"] = "3" },
		"selector order": func(s *v1alpha1.RemediationPolicySpec) {
			s.EventSelectors[0], s.EventSelectors[1] = s.EventSelectors[1], s.EventSelectors[0]
		},
	}
	for name, change := range changes {
		s := fullSpec()
		change(&s)
		assert.NotEqual(t, base, SpecHash(s), name)
	}
	same := fullSpec()
	same.NamespaceSelector.MatchLabels = map[string]string{"m": "3", "a": "2", "z": "1"}
	assert.Equal(t, base, SpecHash(same), "map insertion order")
}

func TestMemoryLedger(t *testing.T) {
	ctx := t.Context()
	l := &Memory{}
	p := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "p", UID: "u1"}, Spec: fullSpec()}
	ok, err := l.Admitted(ctx, p)
	require.NoError(t, err)
	assert.False(t, ok, "nothing recorded yet")

	require.NoError(t, l.Record(ctx, p))
	ok, _ = l.Admitted(ctx, p)
	assert.True(t, ok)

	changed := p.DeepCopy()
	changed.Spec.McpEndpoint = "http://127.0.0.3/"
	ok, _ = l.Admitted(ctx, changed)
	assert.False(t, ok, "a spec never recorded (written while the webhook was bypassed)")

	recreated := p.DeepCopy()
	recreated.UID = "u2"
	ok, _ = l.Admitted(ctx, recreated)
	assert.False(t, ok, "a policy re-created under the same name is another policy")

	// An update recorded but never stored leaves the stored spec admitted.
	require.NoError(t, l.Record(ctx, changed))
	ok, _ = l.Admitted(ctx, p)
	assert.True(t, ok, "earlier recorded spec still admitted")
}
