package remediation

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// TestSweepOrphans: an automatic-mode record still in flight whose policy
// (by UID) is gone becomes Interrupted once it is older than InFlightBound,
// with a message and a Warning Event; every other record is left alone.
func TestSweepOrphans(t *testing.T) {
	const bound = time.Hour
	cases := []struct {
		name string
		mode v1alpha1.RemediationMode
		// policy: "kept" (same UID), "deleted", "recreated" (same name, new UID).
		policy   string
		age      time.Duration
		answered bool
		want     v1alpha1.RemediationPhase
	}{
		{name: "policy deleted, older than the bound", mode: v1alpha1.ModeAutomatic, policy: "deleted", age: 2 * bound, want: v1alpha1.PhaseInterrupted},
		{name: "policy recreated under the same name", mode: v1alpha1.ModeAutomatic, policy: "recreated", age: 2 * bound, want: v1alpha1.PhaseInterrupted},
		{name: "policy exists: loadRecords' job", mode: v1alpha1.ModeAutomatic, policy: "kept", age: 2 * bound, want: v1alpha1.PhaseExecuting},
		{name: "younger than the bound: a live call may answer", mode: v1alpha1.ModeAutomatic, policy: "deleted", age: bound / 2, want: v1alpha1.PhaseExecuting},
		{name: "answered already", mode: v1alpha1.ModeAutomatic, policy: "deleted", age: 2 * bound, answered: true, want: v1alpha1.PhaseSucceeded},
		{name: "manual analysis: expires after the approval window instead", mode: v1alpha1.ModeManual, policy: "deleted", age: 2 * bound, want: v1alpha1.PhaseAnalyzing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
			set := config.Remediations{ApprovalWindow: 24 * time.Hour, RetentionCount: 10, RetentionAge: 24 * time.Hour, MaxOpenPerNamespace: 10, SealSecret: "s"}
			r := newFakeRecords(t, clk, set)
			rec := events.NewFakeRecorder(10)
			r.Recorder = rec
			s := &Sweeper{Records: r, List: cachedReader{r.Reader}, InFlightBound: bound}

			p := testPolicy()
			require.NoError(t, r.Client.Create(ctx, p.DeepCopy()))
			occ := occurrence(p, "team-a", 0, tc.mode)
			_, err := r.Begin(ctx, occ, v1alpha1.PhaseExecuting)
			require.NoError(t, err)
			if tc.answered {
				settle(t, r, occ, v1alpha1.PhaseSucceeded)
				<-rec.Events
			}
			switch tc.policy {
			case "deleted":
				require.NoError(t, r.Client.Delete(ctx, p))
			case "recreated":
				require.NoError(t, r.Client.Delete(ctx, p))
				again := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name, UID: "policy-uid-2"}}
				require.NoError(t, r.Client.Create(ctx, again))
			}
			clk.Step(tc.age)

			require.NoError(t, s.Sweep(ctx))
			var got v1alpha1.Remediation
			require.NoError(t, r.Reader.Get(ctx, client.ObjectKeyFromObject(occ), &got))
			assert.Equal(t, tc.want, got.EffectivePhase())
			if tc.want != v1alpha1.PhaseInterrupted {
				assert.Empty(t, rec.Events, "no phase change, no Event")
				return
			}
			assert.Contains(t, got.Status.Message, "was deleted while this automatic-mode call was in flight")
			assert.Contains(t, got.Status.Message, "docs/remediations.md#interrupted")
			assert.Contains(t, got.Status.Message, got.Spec.IdempotencyKey)
			assert.True(t, clk.Now().Equal(got.Status.CompletedAt.Time), "completedAt")
			ok, err := r.Sealer.Verify(ctx, &got)
			require.NoError(t, err)
			assert.True(t, ok, "the status is sealed again")
			require.Len(t, rec.Events, 1)
			assert.Contains(t, <-rec.Events, "Warning Interrupted Phase Interrupted: Policy dot-ai/p")

			require.NoError(t, s.Sweep(ctx))
			assert.Empty(t, rec.Events, "a second sweep writes nothing")
		})
	}
}

// TestInFlightBound: the defaults give 53 minutes.
func TestInFlightBound(t *testing.T) {
	call := 4*5*time.Minute + 3*30*time.Second
	assert.Equal(t, 53*time.Minute, InFlightBound(call, 30*time.Minute, 30*time.Second))
}
