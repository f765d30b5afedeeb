package watcher

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"dot-ai.io/controller/api/v1alpha1"
)

func TestPolicyConditionsMetric(t *testing.T) {
	scheme := runtime.NewScheme()
	require.NoError(t, v1alpha1.AddToScheme(scheme))
	policy := func(name string, conds ...metav1.Condition) client.Object {
		p := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a"}}
		p.Status.Conditions = conds
		return p
	}
	ready := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Valid"}
	unreachable := metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "MCPUnreachable"}
	delivering := metav1.Condition{Type: "Delivering", Status: metav1.ConditionTrue, Reason: "Delivered"}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		policy("a", ready, delivering), policy("b", ready), policy("c", unreachable, delivering), policy("d"),
	).Build()

	tests := []struct {
		name   string
		source client.Reader
		want   map[[3]string]float64
	}{
		{name: "counts by condition, status and reason", source: c, want: map[[3]string]float64{
			{"Ready", "True", "Valid"}:           2,
			{"Ready", "False", "MCPUnreachable"}: 1,
			{"Delivering", "True", "Delivered"}:  2,
		}},
		{name: "nothing when no watcher runs (standby)", source: nil, want: map[[3]string]float64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exportPolicyConditions(tc.source)
			t.Cleanup(func() { exportPolicyConditions(nil) })
			reg := prometheus.NewPedanticRegistry()
			require.NoError(t, reg.Register(&policyGauge))
			families, err := reg.Gather()
			require.NoError(t, err)
			got := map[[3]string]float64{}
			for _, f := range families {
				for _, m := range f.GetMetric() {
					l := map[string]string{}
					for _, lp := range m.GetLabel() {
						l[lp.GetName()] = lp.GetValue()
					}
					got[[3]string{l["condition"], l["status"], l["reason"]}] = m.GetGauge().GetValue()
				}
			}
			require.Equal(t, tc.want, got)
		})
	}
}
