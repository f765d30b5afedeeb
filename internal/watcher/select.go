package watcher

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/eventtime"
	"dot-ai.io/controller/internal/policy"
)

// Selection: every Event add and update is matched against each policy,
// deduplicated, cooled down, rate-limited and queued, or given its outcome
// at once.

// onEvent runs for every Event add and update, serially and in the
// watch's order (intake).
func (w *Watcher) onEvent(ctx context.Context, ev *corev1.Event, initial bool) {
	if w.stopping.Load() {
		return
	}
	metricSeen.Inc()
	if strings.HasPrefix(ev.InvolvedObject.APIVersion, v1alpha1.GroupVersion.Group+"/") {
		return // the controller's own events about policies
	}
	now := w.clock.Now()
	var goneKnown, gone bool
	isGone := func() bool {
		if !goneKnown {
			gone, goneKnown = w.objectGone(ctx, ev), true
		}
		return gone
	}
	var ownerKnown bool
	var owner *corev1.Event
	ownerEvent := func() *corev1.Event {
		if !ownerKnown {
			owner, ownerKnown = w.ownerFallback(ev), true
		}
		return owner
	}
	for _, ps := range w.snapshot() {
		w.process(ctx, ps, ev, initial, now, isGone, ownerEvent)
	}
	if w.afterEvent != nil {
		w.afterEvent(ev)
	}
}

// process runs one Event through one policy's selection: match, then drop
// what is older than the policy (or its resume) or already handled or in
// flight, and give every other occurrence exactly one fate, in this order:
// skipped (an object gone, for Events found at start-up only, unless it is
// a Pod whose owner still shows its problem: then the occurrence is the
// owner's), cooled down,
// rate-limited, queued, or dropped when the queue is full (its token is
// refunded). Only queuing starts the cooldown, so a dropped occurrence does
// not silence the next one. isGone is asked lazily because it may cost an
// API call.
func (w *Watcher) process(ctx context.Context, ps *policyState, ev *corev1.Event, initial bool, now time.Time, isGone func() bool, ownerEvent func() *corev1.Event) {
	original := ev
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.deleted || ps.checkpoint == nil || ps.compiled == nil || ps.suspended {
		return
	}
	idx, err := ps.compiled.Match(ctx, ev, w.podLookup, w.nsLabels, func() *metav1.ObjectMeta { return w.involvedMeta(ev) })
	if err != nil {
		w.log.V(1).Info("CEL expression failed on an event", "policy", ps.key, "error", err.Error())
	}
	if idx == policy.Excluded {
		metricSkipped.WithLabelValues("excluded").Inc()
		return
	}
	if idx < 0 {
		return
	}
	if w.ignored(ev) {
		metricSkipped.WithLabelValues("ignored").Inc()
		return
	}
	t := eventtime.Of(ev)
	if t.Before(ps.checkpoint.Since) {
		metricSkipped.WithLabelValues("before_policy").Inc()
		return
	}
	count := occurrenceCount(ev)
	if ps.checkpoint.isHandled(ev.UID, count, t) || ps.pending[ev.UID] >= count {
		metricDeduplicated.Inc()
		return
	}
	metricSelected.Inc()
	if initial && isGone() {
		// A Pod deleted while the controller was down: its owner, if it
		// still shows the problem, else skipped (podowners.go).
		if ev = ownerEvent(); ev == nil {
			metricSkipped.WithLabelValues("object_gone").Inc()
			w.recordLocked(ps, original, count, t, now, outcomeSkipped, nil, "involved object no longer exists")
			return
		}
	}
	object := cooldownObject(ev.InvolvedObject, ev.Namespace, w.ownerLookup)
	effective := ps.compiled.Effective(idx)
	if effective.MinOccurrences > 1 {
		reached, n := ps.checkpoint.Recurrence.observe(recurrenceKey(object, ev.Reason, ev.Message), t, effective.MinOccurrences, effective.OccurrenceWindow)
		if !reached {
			w.recordLocked(ps, ev, count, t, now, outcomeBelowThreshold, nil,
				fmt.Sprintf("%d of %d occurrences of %s within %s", n, effective.MinOccurrences, object, effective.OccurrenceWindow))
			return
		}
	}
	key := cooldownKey(object, ev.Reason)
	if ps.checkpoint.Cooldowns.active(key, now) {
		metricCooledDown.Inc()
		w.recordLocked(ps, ev, count, t, now, outcomeCooledDown, nil, "cooldown of "+key)
		return
	}
	epm := effective.EventsPerMinute
	if !ps.checkpoint.Bucket.take(now, epm) {
		metricRateLimited.Inc()
		ps.dirty++
		w.recordLocked(ps, ev, count, t, now, outcomeRateLimited, nil, fmt.Sprintf("over %d events per minute", epm))
		return
	}
	req := ps.request(ev, idx, count, now)
	it := &item{ps: ps, req: req, uid: ev.UID, count: count, eventTime: t}
	if w.admit() {
		select {
		case w.queue <- it:
			metricQueueDepth.Inc()
			ps.pending[ev.UID] = count
			ps.checkpoint.Cooldowns.start(key, now, effective.Cooldown)
			ps.dirty++
			return
		default: // full of held events offered again
			w.admitted.Add(-1)
		}
	}
	ps.checkpoint.Bucket.refund(epm)
	ps.lastDrop = now
	metricDropped.Inc()
	w.recordLocked(ps, ev, count, t, now, outcomeDropped, nil, "delivery queue full")
}

// admit reserves room for one more occurrence, queued, in flight or held.
func (w *Watcher) admit() bool {
	if w.admitted.Add(1) > int64(cap(w.queue)+w.settings.Concurrency) {
		w.admitted.Add(-1)
		return false
	}
	return true
}
