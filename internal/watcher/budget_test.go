package watcher

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/delivery/guard"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/policy/policytest"
)

type countingDeliverer struct{ calls atomic.Int32 }

func (c *countingDeliverer) Deliver(context.Context, delivery.Request) delivery.Result {
	c.calls.Add(1)
	return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeAnalysisCompleted}}
}

// TestBudgetOverflowIsACountedOutcome runs occurrences through the watcher's
// delivery step with the guardrails deliverer in front of the one that calls
// dot-ai: beyond the namespace's budget nothing reaches it, and each
// refused occurrence is counted as budgetExceeded, so the counters still add
// up to the total.
func TestBudgetOverflowIsACountedOutcome(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	w := newUnitWatcher(clk, 10)
	w.settings.Guardrails.NamespaceCallsPerHour = 2
	sent := &countingDeliverer{}
	w.deliverer = guard.New(sent, w.settings, clk)

	p := policytest.Policy("app", v1alpha1.EventSelector{Type: "Warning"})
	p.CreationTimestamp = metav1.NewTime(clk.Now().Add(-time.Hour))
	p.Spec.RateLimiting = &v1alpha1.RateLimiting{EventsPerMinute: new(int32(100)), CooldownMinutes: new(int32(0))}
	compiled, errs := policy.Compile(w.settings, p, nil)
	require.Empty(t, errs)
	ps := &policyState{uid: p.UID, policy: p, compiled: compiled, checkpoint: newCheckpoint(p.CreationTimestamp.Time),
		pending: map[types.UID]int32{}, lastEmit: map[outcome]time.Time{}}
	w.policies[p.UID] = ps

	for i := range 5 {
		e := policytest.Event("app", corev1.EventTypeWarning, "BackOff", "Pod", fmt.Sprintf("pod-%d", i), "")
		e.LastTimestamp = metav1.NewTime(clk.Now())
		w.process(t.Context(), ps, e, false, clk.Now(), func() bool { return false })
	}
	require.Len(t, w.queue, 5)
	for range 5 {
		w.deliver(t.Context(), <-w.queue)
	}

	assert.Equal(t, int32(2), sent.calls.Load(), "only the namespace's budget reached dot-ai")
	assert.Equal(t, countersOf(map[outcome]int64{outcomeAnalysis: 2, outcomeBudgetExceeded: 3}), ps.delta)
	assert.Equal(t, int64(5), ps.delta.total())
	var st v1alpha1.RemediationPolicyStatus
	ps.delta.applyTo(&st)
	assert.Equal(t, int64(3), st.BudgetExceededEvents)
	require.NotEmpty(t, ps.recent)
	assert.Equal(t, v1alpha1.OutcomeBudgetExceeded, ps.recent[0].Result)
	assert.Contains(t, ps.recent[0].Message, "guardrails.budget.namespaceCallsPerHour")
}
