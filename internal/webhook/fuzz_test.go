package webhook

import (
	"math"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/policy"
)

// FuzzValidate feeds arbitrary selector, endpoint and number values through
// Default and Validate. It checks that nothing panics, that every error has
// a field path under spec, and that defaulting never makes a valid policy
// invalid. Seed corpus: testdata/fuzz/FuzzValidate.
//
//	go test ./internal/webhook -run '^$' -fuzz FuzzValidate -fuzztime 30s
func FuzzValidate(f *testing.F) {
	f.Add("team-a", "Warning", "BackOff", "Pod", "", "^Back-off", `event.count > 3`, "", "", "", "", 0.8, int32(100), false)
	f.Add("dot-ai", "Normal", "CrashLoopBackOff", "Deployment", "team-b", "(", `event.reason`, otherEndpoint, "My_Secret", "automatic", "high", 1.5, int32(0), true)
	f.Add("team-a", "", "", "", "", "", "", "ftp://u:p@127.0.0.1/#x", "", "yolo", "", math.NaN(), int32(-1), false)
	f.Add("team-a", "Bad", "OOMKilled", "pod", "Team_A", `(?<=x)`, `event.metadata.labels.all(k, k == "a")`, "http:///x", "t", "manual", "low", -0.5, int32(20000), true)

	s := testSettings()
	f.Fuzz(func(t *testing.T, ns, typ, reason, kind, selNS, message, expr, endpoint, secret, mode, risk string, confidence float64, logLines int32, nsSelector bool) {
		p := &v1alpha1.RemediationPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "fuzz", Namespace: ns},
			Spec: v1alpha1.RemediationPolicySpec{
				EventSelectors: []v1alpha1.EventSelector{
					{Type: v1alpha1.EventType(typ), Reason: reason, InvolvedObjectKind: kind, Namespace: selNS, Message: message, Expression: expr,
						Mode: v1alpha1.RemediationMode(mode), ConfidenceThreshold: new(confidence), MaxRiskLevel: v1alpha1.RiskLevel(risk)},
					{Reason: reason},
				},
				McpEndpoint:         endpoint,
				Mode:                v1alpha1.RemediationMode(mode),
				ConfidenceThreshold: new(confidence),
				MaxRiskLevel:        v1alpha1.RiskLevel(risk),
				ContextGathering:    &v1alpha1.ContextGathering{LogLines: new(logLines)},
			},
		}
		if secret != "" {
			p.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: secret, Key: secret}
		}
		if nsSelector {
			p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{reason: kind}}
		}

		errs, _ := policy.Validate(s, nil, p)
		for _, e := range errs {
			if e.Field != "spec" && !strings.HasPrefix(e.Field, "spec.") {
				t.Errorf("error without a spec field path: %v", e)
			}
		}
		defaulted := p.DeepCopy()
		policy.Default(s, defaulted)
		errsAfter, _ := policy.Validate(s, nil, defaulted)
		if len(errs) == 0 && len(errsAfter) > 0 {
			t.Errorf("defaulting made a valid policy invalid: %v", errsAfter.ToAggregate())
		}
		// Update paths: an unchanged spec is never rejected. (NaN, which JSON
		// cannot carry, is unequal to itself, so such a spec always "changes".)
		if math.IsNaN(confidence) {
			return
		}
		if errs, _ := policy.Validate(s, p, p.DeepCopy()); len(errs) > 0 {
			t.Errorf("unchanged spec rejected on update: %v", errs.ToAggregate())
		}
	})
}
