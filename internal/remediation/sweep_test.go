package remediation

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// byPhase counts the records of ns by phase.
func byPhase(t testing.TB, r *Records, ns string) map[v1alpha1.RemediationPhase]int {
	t.Helper()
	var list v1alpha1.RemediationList
	require.NoError(t, r.Reader.List(context.Background(), &list, client.InNamespace(ns)))
	out := map[v1alpha1.RemediationPhase]int{}
	for _, rec := range list.Items {
		out[rec.EffectivePhase()]++
	}
	return out
}

// settle moves a begun record to phase, as the watcher does with an answer.
func settle(t testing.TB, r *Records, rec *v1alpha1.Remediation, phase v1alpha1.RemediationPhase) {
	t.Helper()
	now := r.Clock.Now()
	_, err := r.Update(context.Background(), client.ObjectKeyFromObject(rec), func(cur *v1alpha1.Remediation) bool {
		Apply(&cur.Status, phase, &v1alpha1.RemediationOutcome{}, nil, now)
		if phase == v1alpha1.PhaseAwaitingApproval {
			cur.Status.SessionID = "rem-1-" + cur.Name
			cur.Status.ExpiresAt = r.ExpiresAt(now)
		}
		return true
	})
	require.NoError(t, err)
}

// TestSweep: an undecided proposal expires after the approval window, a
// decided one does not; retention deletes only terminal records, oldest
// first, beyond the count or the age.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	set := config.Remediations{ApprovalWindow: time.Hour, RetentionCount: 3, RetentionAge: 24 * time.Hour, MaxOpenPerNamespace: 10, SealSecret: "s"}
	r := newFakeRecords(t, clk, set)
	s := &Sweeper{Records: r, List: cachedReader{r.Reader}}
	p := testPolicy()
	var recs []*v1alpha1.Remediation
	for i := range 6 {
		rec := occurrence(p, "team-a", i, v1alpha1.ModeManual)
		_, err := r.Begin(ctx, rec, v1alpha1.PhaseAnalyzing)
		require.NoError(t, err)
		recs = append(recs, rec)
		clk.Step(time.Minute)
	}
	settle(t, r, recs[0], v1alpha1.PhaseAwaitingApproval) // expires
	settle(t, r, recs[1], v1alpha1.PhaseAwaitingApproval) // decided: stays for the executor
	var decided v1alpha1.Remediation
	require.NoError(t, r.Reader.Get(ctx, client.ObjectKeyFromObject(recs[1]), &decided))
	decided.Spec.Approval = &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove}
	require.NoError(t, r.Client.Update(ctx, &decided))
	for _, rec := range recs[2:5] {
		settle(t, r, rec, v1alpha1.PhaseAnalyzed)
		clk.Step(time.Minute)
	}
	// recs[5] stays Analyzing: open, never deleted.

	require.NoError(t, s.Sweep(ctx))
	assert.Equal(t, map[v1alpha1.RemediationPhase]int{v1alpha1.PhaseAwaitingApproval: 2, v1alpha1.PhaseAnalyzed: 3, v1alpha1.PhaseAnalyzing: 1},
		byPhase(t, r, "team-a"), "nothing expired or over a bound yet")

	clk.Step(time.Hour)
	require.NoError(t, s.Sweep(ctx))
	got := byPhase(t, r, "team-a")
	assert.Equal(t, 1, got[v1alpha1.PhaseAwaitingApproval], "the decided one stays")
	assert.Equal(t, 2, got[v1alpha1.PhaseExpired], "the undecided proposal and the analysis whose answer never came expired")
	assert.Zero(t, got[v1alpha1.PhaseAnalyzing])
	assert.Equal(t, 1, got[v1alpha1.PhaseAnalyzed], "retention keeps 3 terminal records: the two oldest went")
	for i, want := range []bool{false, false, true} {
		var rec v1alpha1.Remediation
		err := r.Reader.Get(ctx, client.ObjectKeyFromObject(recs[2+i]), &rec)
		assert.Equal(t, want, err == nil, "analysed record %d kept", i)
	}

	clk.Step(25 * time.Hour)
	require.NoError(t, s.Sweep(ctx))
	got = byPhase(t, r, "team-a")
	assert.Equal(t, map[v1alpha1.RemediationPhase]int{v1alpha1.PhaseAwaitingApproval: 1}, got, "past the age only the decided, open record is left")
}
