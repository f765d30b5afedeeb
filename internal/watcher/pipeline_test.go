package watcher

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/delivery/guard"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/policy/policytest"
)

// newUnitWatcher builds a watcher without an apiserver: empty, unstarted
// caches and a fake clock.
func newUnitWatcher(clk *clocktesting.FakeClock, queueSize int) *Watcher {
	s := testSettings()
	s.QueueSize = queueSize
	return &Watcher{
		settings: s, opts: Options{CheckpointBatch: 256, StatusInterval: 2 * time.Second}, clock: clk,
		recorder:   events.NewFakeRecorder(100),
		log:        logr.Discard(),
		pods:       toolscache.NewSharedIndexInformer(&toolscache.ListWatch{}, &corev1.Pod{}, 0, toolscache.Indexers{}),
		workloads:  unitWorkloadInformers(),
		namespaces: toolscache.NewSharedIndexInformer(&toolscache.ListWatch{}, &metav1.PartialObjectMetadata{}, 0, toolscache.Indexers{}),
		policies:   map[types.UID]*policyState{},
		queue:      make(chan *item, queueSize),
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
}

func unitWorkloadInformers() map[schema.GroupKind]toolscache.SharedIndexInformer {
	out := map[schema.GroupKind]toolscache.SharedIndexInformer{}
	for gk := range workloadResources {
		out[gk] = toolscache.NewSharedIndexInformer(&toolscache.ListWatch{}, &metav1.PartialObjectMetadata{}, 0, toolscache.Indexers{})
	}
	return out
}

// TestPipelineLimits drives process() on a fake clock: dedup, cooldown by
// owning Deployment, token bucket, queue full with token refund, and that
// every selected occurrence has exactly one outcome or is queued.
func TestPipelineLimits(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	w := newUnitWatcher(clk, 3)
	p := policytest.Policy("app", v1alpha1.EventSelector{Type: "Warning"})
	p.CreationTimestamp = metav1.NewTime(clk.Now().Add(-time.Hour))
	p.Spec.RateLimiting = &v1alpha1.RateLimiting{EventsPerMinute: ptr.To[int32](3), CooldownMinutes: ptr.To[int32](5)}
	compiled, errs := policy.Compile(w.settings, p, nil)
	require.Empty(t, errs)
	ps := &policyState{uid: p.UID, policy: p, compiled: compiled, checkpoint: newCheckpoint(p.CreationTimestamp.Time),
		pending: map[types.UID]int32{}, lastEmit: map[outcome]time.Time{}}
	w.policies[p.UID] = ps

	n := 0
	ev := func(pod string) *corev1.Event {
		n++
		e := policytest.Event("app", "Warning", "BackOff", "Pod", pod, "")
		e.UID = types.UID(fmt.Sprintf("uid-%d", n))
		e.Name = fmt.Sprintf("ev-%d", n)
		e.LastTimestamp = metav1.NewTime(clk.Now())
		return e
	}
	never := func() bool { return false }
	run := func(e *corev1.Event) { w.process(t.Context(), ps, e, false, clk.Now(), never, noOwner) }

	e1 := ev("web-5f6c7d8b9-aaaaa") // Deployment web
	run(e1)
	run(e1)                        // same occurrence again: deduplicated (in flight)
	run(ev("web-5f6c7d8b9-bbbbb")) // replacement pod of web: cooled down
	run(ev("api-1"))               // token 2
	run(ev("api-2"))               // token 3
	run(ev("api-3"))               // bucket empty: rate limited
	assert.Len(t, w.queue, 3)
	assert.Equal(t, countersOf(map[outcome]int64{outcomeCooledDown: 1, outcomeRateLimited: 1}), ps.checkpoint.Counts)
	assert.Equal(t, int64(2), ps.checkpoint.Counts.TotalEventsProcessed)

	clk.Step(20 * time.Second) // one token back at 3/min
	run(ev("api-4"))           // queue (3) full: dropped, token refunded
	assert.Equal(t, int64(1), *outcomeDropped.spec().counter(&ps.checkpoint.Counts))
	<-w.queue        // a worker takes one
	run(ev("api-5")) // the refunded token is used
	assert.Len(t, w.queue, 3)

	// Count bump of e1 within the cooldown: a new occurrence, cooled down.
	e1.Count = 2
	run(e1)
	assert.Equal(t, int64(2), *outcomeCooledDown.spec().counter(&ps.checkpoint.Counts))

	// After the cooldown the Deployment's next event goes through.
	clk.Step(5 * time.Minute)
	<-w.queue
	run(ev("web-5f6c7d8b9-ccccc"))
	assert.Len(t, w.queue, 3)

	// Events older than the policy are not its occurrences.
	old := ev("api-6")
	old.LastTimestamp = metav1.NewTime(p.CreationTimestamp.Add(-time.Minute))
	run(old)
	assert.Equal(t, countersOf(map[outcome]int64{outcomeCooledDown: 2, outcomeRateLimited: 1, outcomeDropped: 1}), ps.checkpoint.Counts)
	assert.Equal(t, int64(4), ps.checkpoint.Counts.TotalEventsProcessed)
	// 9 selected occurrences: 4 outcomes + 5 queued or in flight (3 in the
	// queue, 2 taken by "workers" without an outcome yet).
	assert.Len(t, ps.pending, 5)
	assert.Len(t, w.queue, 3)
}

// countersOf builds the counts of the given outcomes.
func countersOf(m map[outcome]int64) v1alpha1.OutcomeCounts {
	var c v1alpha1.OutcomeCounts
	for o, n := range m {
		*o.spec().counter(&c) += n
		c.TotalEventsProcessed += n
	}
	return c
}

// countingDeliverer counts the calls that reach it: the analysis budget tests
// below drive it through process and deliver.
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
		w.process(t.Context(), ps, e, false, clk.Now(), func() bool { return false }, noOwner)
	}
	require.Len(t, w.queue, 5)
	for range 5 {
		w.deliver(t.Context(), <-w.queue)
	}

	assert.Equal(t, int32(2), sent.calls.Load(), "only the namespace's budget reached dot-ai")
	assert.Equal(t, countersOf(map[outcome]int64{outcomeAnalysis: 2, outcomeBudgetExceeded: 3}), ps.checkpoint.Counts)
	assert.Equal(t, int64(5), ps.checkpoint.Counts.TotalEventsProcessed)
	assert.Equal(t, int64(3), ps.checkpoint.Counts.BudgetExceededEvents)
	require.NotEmpty(t, ps.checkpoint.Recent)
	assert.Equal(t, v1alpha1.OutcomeBudgetExceeded, ps.checkpoint.Recent[0].Result)
	assert.Contains(t, ps.checkpoint.Recent[0].Message, "guardrails.budget.namespaceCallsPerHour")

	// A refused occurrence says nothing about the endpoint: the MCP
	// condition the last call left stays.
	ps.condReason, ps.condMessage = v1alpha1.ReasonMCPUnreachable, "unreachable"
	e := policytest.Event("app", corev1.EventTypeWarning, "BackOff", "Pod", "pod-5", "")
	e.LastTimestamp = metav1.NewTime(clk.Now())
	w.process(t.Context(), ps, e, false, clk.Now(), func() bool { return false }, noOwner)
	w.deliver(t.Context(), <-w.queue)
	assert.Equal(t, v1alpha1.OutcomeBudgetExceeded, ps.checkpoint.Recent[0].Result)
	assert.Equal(t, v1alpha1.ReasonMCPUnreachable, ps.condReason, "a budget refusal keeps the endpoint's condition")
}

// noOwner is process's ownerEvent when no Pod owner is remembered.
func noOwner() *corev1.Event { return nil }
