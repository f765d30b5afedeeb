package remediation

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// cachedReader lists records as the manager's cache holds them: reduced by
// CacheTransform. Tests of cache readers use it, so a field the transform
// drops but a reader needs fails them.
type cachedReader struct{ client.Reader }

func (c cachedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Reader.List(ctx, list, opts...); err != nil {
		return err
	}
	if l, ok := list.(*v1alpha1.RemediationList); ok {
		for i := range l.Items {
			out, err := CacheTransform(&l.Items[i])
			if err != nil {
				return err
			}
			l.Items[i] = *out.(*v1alpha1.Remediation)
		}
	}
	return nil
}

// TestCacheTransform: the cache keeps what the Index, the executor's
// trigger and the Sweeper read, and none of the analysis, proposal,
// execution, recorded spec or managed fields.
func TestCacheTransform(t *testing.T) {
	at := metav1.NewTime(time.Unix(1_700_000_000, 0))
	full := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "rem-1", UID: types.UID("u1"), ResourceVersion: "7",
			Generation: 2, CreationTimestamp: at, Labels: map[string]string{LabelMode: "manual"},
			Annotations:   map[string]string{"note": "x"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "dot-ai-controller"}}},
		Spec: v1alpha1.RemediationSpec{Mode: v1alpha1.ModeManual, McpURL: "https://dot-ai.local/api/v1/tools/remediate",
			IdempotencyKey: "k", Event: v1alpha1.RemediationEvent{Name: "ev", Message: "Back-off restarting failed container"},
			Approval: &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove, DecidedBy: "alice", DecidedAt: &at}},
		Status: v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseAwaitingApproval, SessionID: "rem-1", Message: "m",
			Analysis: &v1alpha1.RemediationAnalysis{RootCause: "OOM"}, Proposal: &v1alpha1.RemediationProposal{Summary: "raise the limit"},
			AnalyzedAt: &at, ExpiresAt: &at, CompletedAt: &at, Seal: "seal"},
	}
	got, err := CacheTransform(full)
	require.NoError(t, err)
	want := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "rem-1", UID: types.UID("u1"), ResourceVersion: "7",
			Generation: 2, CreationTimestamp: at, Labels: map[string]string{LabelMode: "manual"}},
		Spec:   v1alpha1.RemediationSpec{Mode: v1alpha1.ModeManual, Approval: full.Spec.Approval},
		Status: v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseAwaitingApproval, ExpiresAt: &at, CompletedAt: &at},
	}
	assert.Equal(t, want, got)

	other := &v1alpha1.RemediationPolicy{}
	same, err := CacheTransform(other)
	require.NoError(t, err)
	assert.Same(t, other, same, "other types pass unchanged")
}
