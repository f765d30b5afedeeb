package remediation

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// TestSeal: a record sealed by the controller verifies; changing any
// recorded field, its UID or its session breaks the seal, and so does a key
// other than the controller's. The key is created once and reused.
func TestSeal(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	r := newFakeRecords(t, clk, config.DefaultRemediations())
	rec := occurrence(testPolicy(), "team-a", 1, v1alpha1.ModeManual)
	cur, err := r.Begin(ctx, rec, v1alpha1.PhaseAnalyzing)
	require.NoError(t, err)
	var got v1alpha1.Remediation
	require.NoError(t, r.Reader.Get(ctx, client.ObjectKeyFromObject(rec), &got))
	assert.Empty(t, got.Status, "in flight: created, no status written yet")
	ok, err := r.Sealer.Verify(ctx, &got)
	require.NoError(t, err)
	require.False(t, ok, "a record in flight carries no seal")

	_, err = r.UpdateFrom(ctx, client.ObjectKeyFromObject(rec), cur, func(c *v1alpha1.Remediation) bool {
		c.Status.Phase, c.Status.SessionID = v1alpha1.PhaseAwaitingApproval, "rem-1"
		return true
	})
	require.NoError(t, err)
	require.NoError(t, r.Reader.Get(ctx, client.ObjectKeyFromObject(rec), &got))
	ok, err = r.Sealer.Verify(ctx, &got)
	require.NoError(t, err)
	require.True(t, ok, "the controller's own record verifies")

	var sec corev1.Secret
	require.NoError(t, r.Reader.Get(ctx, client.ObjectKey{Namespace: "dot-ai", Name: config.DefaultSealSecret}, &sec), "the key Secret was created")
	assert.Len(t, sec.Data[SealKey], 32)

	tests := map[string]func(*v1alpha1.Remediation){
		"another session":    func(r *v1alpha1.Remediation) { r.Status.SessionID = "rem-1-other" },
		"another URL":        func(r *v1alpha1.Remediation) { r.Spec.McpURL = "http://127.0.0.2/api/v1/tools/remediate" },
		"another UID":        func(r *v1alpha1.Remediation) { r.UID = "copied" },
		"another namespace":  func(r *v1alpha1.Remediation) { r.Namespace = "team-b" },
		"another policy":     func(r *v1alpha1.Remediation) { r.Spec.Policy.UID = "other" },
		"another object":     func(r *v1alpha1.Remediation) { r.Spec.Event.InvolvedObject.Name = "db" },
		"another mode":       func(r *v1alpha1.Remediation) { r.Spec.Mode = v1alpha1.ModeAutomatic },
		"another occurrence": func(r *v1alpha1.Remediation) { r.Spec.IdempotencyKey = "0" },
		"no seal":            func(r *v1alpha1.Remediation) { r.Status.Seal = "" },
		"a seal of its own":  func(r *v1alpha1.Remediation) { r.Status.Seal = "v1:AAAA" },
		"approval unchanged": nil, // spec.approval is not sealed: people set it
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			c := got.DeepCopy()
			want := change == nil
			if change == nil {
				c.Spec.Approval = &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove, DecidedBy: "alice"}
			} else {
				change(c)
			}
			ok, err := r.Sealer.Verify(ctx, c)
			require.NoError(t, err)
			assert.Equal(t, want, ok)
		})
	}

	t.Run("another key", func(t *testing.T) {
		other := &Sealer{key: []byte("0123456789abcdef0123456789abcdef")}
		ok, err := other.Verify(ctx, &got)
		require.NoError(t, err)
		assert.False(t, ok)
	})
}
