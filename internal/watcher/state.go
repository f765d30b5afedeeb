package watcher

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/text"
)

// policyState is the watcher's view of one policy. mu guards everything.
type policyState struct {
	mu       sync.Mutex
	uid      types.UID
	key      types.NamespacedName
	policy   *v1alpha1.RemediationPolicy // read-only snapshot
	compiled *policy.Compiled            // nil: invalid
	// effective is the policy-level settings of this generation (no
	// selector's overrides), resolved once: status reports its endpoint.
	effective policy.Effective
	invalid   string
	deleted   bool

	suspended  bool
	checkpoint *checkpoint
	rv         string // checkpoint object's resourceVersion
	dirty      int    // unsaved checkpoint changes
	pending    map[types.UID]int32
	// saved is what the last saved checkpoint holds of the status: the
	// status shows only counts that a checkpoint holds (decision 18 (docs/design/decisions.md#d18)).
	saved savedStatus
	// resolvedIntents are the occurrence keys of intents whose outcome is in
	// the checkpoint; they are deleted once it is saved.
	resolvedIntents []string
	// resolvedNotifications are the message ids of notification intents
	// whose items' outcomes are in the checkpoint; deleted once it is saved.
	resolvedNotifications []string

	statusDirty bool
	lastDrop    time.Time
	condReason  string
	condMessage string
	delivering  deliveryHealth
	lastEmit    map[outcome]time.Time
	// notifyFailures holds each failing notification destination kind's
	// reason; notifying is the Notifying condition derived from it (nil
	// until the first notification).
	notifyFailures map[policy.DestinationKind]string
	notifying      *metav1.Condition
}

// savedStatus is the part of a saved checkpoint the status shows.
type savedStatus struct {
	valid         bool
	counts        v1alpha1.OutcomeCounts
	recent        []v1alpha1.RemediationOutcome
	lastProcessed time.Time
	notify        []v1alpha1.NotificationCounts
}

func (c *checkpoint) savedStatus() savedStatus {
	return savedStatus{valid: true, counts: c.Counts, recent: c.Recent, lastProcessed: c.LastProcessed, notify: c.Notify.status()}
}

// occurrenceKey is the idempotency key: policy UID, event UID, occurrence.
func occurrenceKey(policyUID, eventUID types.UID, count int32) string {
	return fmt.Sprintf("%s/%s/%d", policyUID, eventUID, count)
}

// request builds the delivery request for an occurrence matched by selector
// idx. It carries the selector's settings resolved when the policy
// generation was compiled, so the Deliverer need not resolve them again, and
// the idempotency key, so a redelivery after a restart carries the same key.
func (ps *policyState) request(ev *corev1.Event, idx int, count int32, now time.Time) delivery.Request {
	return delivery.Request{
		Policy: ps.policy, Event: ev, SelectorIndex: idx,
		Effective:     ps.compiled.Effective(idx),
		OccurrenceKey: occurrenceKey(ps.uid, ev.UID, count),
		SeenAt:        now,
	}
}

// readyCondition derives the Ready condition.
func (ps *policyState) readyCondition(now time.Time, window time.Duration) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonActive, Message: "Events are selected and delivered"}
	switch {
	case ps.invalid != "":
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, ps.invalid
	case ps.suspended:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, v1alpha1.ReasonSuspended, "spec.suspend is true"
	case !ps.lastDrop.IsZero() && now.Sub(ps.lastDrop) < window:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, v1alpha1.ReasonQueueFull, "The delivery queue is full: new events are dropped and counted in droppedEvents"
	case ps.condReason != "":
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, ps.condReason, ps.condMessage
	}
	c.Message = text.Truncate(c.Message, v1alpha1.MaxConditionMessageLength)
	return c
}

func (w *Watcher) statusLoop(ctx context.Context) {
	w.every(ctx, w.opts.StatusInterval, nil, func() { w.flushAllStatus(ctx) })
}

// every runs f on each tick of interval, and whenever kick fires (a nil kick
// never does), until ctx ends.
func (w *Watcher) every(ctx context.Context, interval time.Duration, kick <-chan struct{}, f func()) {
	t := w.clock.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			f()
		case <-kick:
			f()
		}
	}
}

func (w *Watcher) flushAllStatus(ctx context.Context) {
	for _, ps := range w.snapshot() {
		if err := w.flushStatus(ctx, ps); err != nil && ctx.Err() == nil {
			w.log.Error(err, "Failed to update RemediationPolicy status", "policy", ps.key)
		}
	}
}

// flushStatus writes one policy's counters, recent outcomes and conditions
// (at most once per StatusInterval), with optimistic locking. Counters and
// outcomes are copied from the last saved checkpoint, never counted here. Ready carries
// the generation acted on; Delivering the generation of the delivery that
// decided it, so a verdict older than the spec shows as such.
func (w *Watcher) flushStatus(ctx context.Context, ps *policyState) error {
	now := w.clock.Now()
	ps.mu.Lock()
	if ps.deleted || ps.policy == nil {
		ps.mu.Unlock()
		return nil
	}
	cond := ps.readyCondition(now, 2*w.opts.StatusInterval)
	gen := ps.policy.Generation
	endpoint := ps.effective.Endpoint
	cur := ps.policy.Status
	if !ps.statusDirty && cur.ObservedGeneration == gen && cur.EffectiveMcpEndpoint == endpoint && conditionEqual(meta.FindStatusCondition(cur.Conditions, v1alpha1.ConditionReady), cond) {
		ps.mu.Unlock()
		return nil
	}
	var delivering, notifying *metav1.Condition
	if c := ps.delivering.cond; c != nil {
		delivering = new(*c)
	}
	if c := ps.notifying; c != nil {
		notifying = new(*c)
	}
	saved := ps.saved
	ps.statusDirty = false
	ps.mu.Unlock()

	var err error
	for range 3 {
		var p v1alpha1.RemediationPolicy
		if err = w.store.Reader.Get(ctx, ps.key, &p); err != nil {
			break
		}
		if p.UID != ps.uid {
			return nil
		}
		if saved.valid {
			p.Status.OutcomeCounts = saved.counts
			p.Status.RecentOutcomes = saved.recent
			if !saved.lastProcessed.IsZero() {
				p.Status.LastProcessedEvent = new(metav1.NewTime(saved.lastProcessed))
			}
			p.Status.NotificationCounts = saved.notify
		}
		cond.ObservedGeneration = gen
		meta.SetStatusCondition(&p.Status.Conditions, cond)
		if delivering != nil {
			meta.SetStatusCondition(&p.Status.Conditions, *delivering)
		}
		if notifying != nil {
			meta.SetStatusCondition(&p.Status.Conditions, *notifying)
		}
		if gen > 0 {
			p.Status.ObservedGeneration = gen
		}
		p.Status.EffectiveMcpEndpoint = endpoint
		if err = w.client.Status().Update(ctx, &p); err == nil || !apierrors.IsConflict(err) {
			break
		}
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		ps.mu.Lock()
		ps.statusDirty = true
		ps.mu.Unlock()
		return err
	}
	ps.mu.Lock()
	if ps.policy != nil && ps.policy.Generation == gen {
		ps.policy.Status.ObservedGeneration = gen
		ps.policy.Status.EffectiveMcpEndpoint = endpoint
		meta.SetStatusCondition(&ps.policy.Status.Conditions, cond)
		if delivering != nil {
			meta.SetStatusCondition(&ps.policy.Status.Conditions, *delivering)
		}
		if notifying != nil {
			meta.SetStatusCondition(&ps.policy.Status.Conditions, *notifying)
		}
	}
	ps.mu.Unlock()
	return nil
}

func conditionEqual(a *metav1.Condition, b metav1.Condition) bool {
	return a != nil && a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message && a.ObservedGeneration == b.ObservedGeneration
}

func (w *Watcher) checkpointLoop(ctx context.Context) {
	w.every(ctx, w.opts.CheckpointInterval, w.kick, func() {
		w.flushCheckpoints(ctx, false)
		w.flushPodOwners(ctx)
	})
}

// flushCheckpoints writes every policy's checkpoint that changed.
func (w *Watcher) flushCheckpoints(ctx context.Context, final bool) {
	now := w.clock.Now()
	for _, ps := range w.snapshot() {
		ps.mu.Lock()
		if ps.deleted || ps.checkpoint == nil || ps.dirty == 0 {
			ps.mu.Unlock()
			continue
		}
		var exists eventLookup = w.eventSet
		if !w.ready.Load() { // until the initial list is handled, absence means nothing
			exists = nil
		}
		ps.checkpoint.prune(now, exists)
		data, rv, n := ps.checkpoint.state(), ps.rv, ps.dirty
		saved, resolved, resolvedNotes := ps.checkpoint.savedStatus(), ps.resolvedIntents, ps.resolvedNotifications
		owedUpTo := ps.checkpoint.Notify.Next
		ps.dirty, ps.resolvedIntents, ps.resolvedNotifications = 0, nil, nil
		ref := v1alpha1.StatePolicyReference{Namespace: ps.key.Namespace, Name: ps.key.Name, UID: string(ps.uid)}
		ps.mu.Unlock()

		newRV, err := w.store.SaveCheckpoint(ctx, ref, data, rv)
		ps.mu.Lock()
		if err != nil {
			ps.dirty += n
			ps.resolvedIntents = append(ps.resolvedIntents, resolved...)
			ps.resolvedNotifications = append(ps.resolvedNotifications, resolvedNotes...)
			metricCheckpointWrites.WithLabelValues("error").Inc()
			if !final || ctx.Err() == nil {
				w.log.Error(err, "Failed to write checkpoint", "policy", ps.key)
			}
			ps.mu.Unlock()
			continue
		}
		ps.rv = newRV
		ps.saved, ps.statusDirty = saved, true
		metricCheckpointWrites.WithLabelValues("ok").Inc()
		handover := w.handOverLocked(ps, owedUpTo)
		ps.mu.Unlock()
		// The items are owed in a saved checkpoint: a restart sends or
		// counts them, so they may go out now.
		for _, h := range handover {
			w.opts.Notifier.Notify(h.item, h.dests)
		}
		// The outcomes are saved: their intents have done their work.
		for _, key := range resolved {
			if err := w.store.DeleteIntent(ctx, key); err != nil && ctx.Err() == nil {
				w.log.Error(err, "Failed to delete a resolved intent", "policy", ps.key)
			}
		}
		for _, id := range resolvedNotes {
			if err := w.store.DeleteNotification(ctx, id); err != nil && ctx.Err() == nil {
				w.log.Error(err, "Failed to delete a settled notification intent", "policy", ps.key)
			}
		}
	}
}
