package remediation

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// TestStatusWriteSendsNoManagedFields: a record's status write leaves its
// managed fields out of the request (the API server keeps the stored ones;
// TestApprovalLoop checks them on a real one).
func TestStatusWriteSendsNoManagedFields(t *testing.T) {
	ctx := context.Background()
	r := newFakeRecords(t, clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0)), config.DefaultRemediations())
	var sent [][]metav1.ManagedFieldsEntry
	r.Client = interceptor.NewClient(r.Client.(client.WithWatch), interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			sent = append(sent, obj.GetManagedFields())
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	rec := occurrence(testPolicy(), "team-a", 1, v1alpha1.ModeManual)
	cur, err := r.Begin(ctx, rec, v1alpha1.PhaseAnalyzing)
	require.NoError(t, err)
	cur.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "dot-ai-controller", Operation: metav1.ManagedFieldsOperationUpdate}}
	got, err := r.UpdateFrom(ctx, client.ObjectKeyFromObject(rec), cur, func(x *v1alpha1.Remediation) bool {
		x.Status.Phase = v1alpha1.PhaseAnalyzed
		return true
	})
	require.NoError(t, err)
	assert.Equal(t, v1alpha1.PhaseAnalyzed, got.Status.Phase)
	require.Len(t, sent, 1)
	assert.Empty(t, sent[0])
}
