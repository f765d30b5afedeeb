package watcher

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/notify"
	"dot-ai.io/controller/internal/text"
)

// Delivery and outcomes: workers hand queued occurrences to the Deliverer,
// hold them while an endpoint is unreachable, and record each one's outcome
// in counters, checkpoint, metrics and Kubernetes Events.

const (
	// eventEmitInterval rate-limits Kubernetes Events on a policy per reason.
	eventEmitInterval = 10 * time.Second
	// maxEventNoteBytes keeps an Event's note under the events API's 1 KiB
	// limit, which rejects a longer one.
	maxEventNoteBytes = 1000
)

// item is one queued occurrence.
type item struct {
	ps        *policyState
	req       delivery.Request
	uid       types.UID
	count     int32
	eventTime time.Time // the occurrence's time, for its handled mark
	// recordBegun: this process created (or, for a re-sent analysis, took
	// over) the occurrence's Remediation record, its write-ahead intent;
	// recordName names the record once it is known to exist. Only the
	// occurrence's worker touches them.
	recordBegun bool
	recordName  string
	// record is the record as this process last wrote or read it.
	record *v1alpha1.Remediation
	// startNotified: the notifyOnStart message was handed over (a held
	// occurrence offered again is not announced twice).
	startNotified bool
}

func (w *Watcher) worker(ctx context.Context, stopTaking <-chan struct{}) {
	for {
		select {
		case <-stopTaking:
			return
		case it := <-w.queue:
			metricQueueDepth.Dec()
			select {
			case <-stopTaking:
				return // not delivered, not checkpointed: the next leader delivers it
			default:
			}
			w.deliver(ctx, it)
		}
	}
}

// deliver makes one delivery call for a queued occurrence and records its
// outcome. A Result with RequeueAfter (endpoint unreachable, breaker open)
// holds the occurrence and offers it again later, keeping its admitted slot,
// so an outage neither loses events nor counts them as failed. A call cut
// off by the drain timeout records nothing in manual mode (the next leader
// sends it again, with the same Idempotency-Key); in automatic mode, once its
// intent was written, it ends as Interrupted: it may have been sent and is
// never sent again (decision 17 (docs/design/decisions.md#d17)). Otherwise the Deliverer's
// result becomes the occurrence's one outcome (table outcomes), its
// condition reason replaces the policy's, and it counts towards the
// Delivering condition (deliveryHealth); held and cut-off calls do not.
func (w *Watcher) deliver(ctx context.Context, it *item) {
	ps := it.ps
	ps.mu.Lock()
	deleted := ps.deleted
	ps.mu.Unlock()
	if deleted {
		w.admitted.Add(-1)
		return
	}
	metricLatency.Observe(w.clock.Since(it.req.SeenAt).Seconds())
	if !it.startNotified {
		it.startNotified = true
		ps.mu.Lock()
		w.notifyLocked(ps, it, notify.PhaseStart, nil, nil)
		ps.mu.Unlock()
	}
	if w.capped(it) {
		w.admitted.Add(-1)
		w.finish(it, delivery.Result{Outcome: v1alpha1.RemediationOutcome{
			Result:  v1alpha1.OutcomeProposalCapReached,
			Message: fmt.Sprintf("Not sent: namespace %s already holds %d open proposals (remediations.maxOpenPerNamespace); decide or let them expire", it.req.Event.Namespace, w.settings.Remediations.MaxOpenPerNamespace),
		}})
		return
	}
	req := it.req
	if w.records != nil {
		req.BeforeSend = w.beforeSend(it)
	}
	metricInFlight.Inc()
	res := w.deliverer.Deliver(ctx, req)
	metricInFlight.Dec()
	if ctx.Err() != nil {
		if it.recordBegun && req.Effective.Mode == v1alpha1.ModeAutomatic {
			w.interrupted(ctx, it)
			return
		}
		w.admitted.Add(-1)
		return // cut off by the drain timeout: re-sent after restart
	}
	if res.RequeueAfter > 0 {
		// Not sent (the Deliverer's contract): drop the record, so a restart
		// while the occurrence is held does not take it for an interrupted
		// call.
		w.dropRecord(ctx, it)
		if res.ConditionReason != "" {
			ps.mu.Lock()
			if ps.condReason != res.ConditionReason || ps.condMessage != res.ConditionMessage {
				ps.condReason, ps.condMessage = res.ConditionReason, res.ConditionMessage
				ps.statusDirty = true
			}
			ps.mu.Unlock()
		}
		// Held, not dropped: the admitted slot stays taken until an outcome.
		metricHeld.Inc()
		w.clock.AfterFunc(res.RequeueAfter, func() {
			metricHeld.Dec()
			if w.stopping.Load() {
				return
			}
			select {
			case w.queue <- it:
				metricQueueDepth.Inc()
			case <-w.done:
			}
		})
		return
	}
	w.admitted.Add(-1)
	w.recordOutcome(ctx, it, &res)
	w.finish(it, res)
}

// finish records the Deliverer's result as the occurrence's one outcome.
func (w *Watcher) finish(it *item, res delivery.Result) {
	ps := it.ps
	now := w.clock.Now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.pending[it.uid] == it.count {
		delete(ps.pending, it.uid)
	}
	if ps.deleted {
		return
	}
	out := res.Outcome
	oc := deliveryOutcome(out.Result)
	out.Result = oc.spec().result
	if out.Time.IsZero() {
		out.Time = metav1.NewTime(now)
	}
	ev := it.req.Event
	if out.Event == "" {
		out.Event = ev.Namespace + "/" + ev.Name
	}
	if out.Reason == "" {
		out.Reason = ev.Reason
	}
	if out.InvolvedObject == "" {
		out.InvolvedObject = ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name
	}
	metricDeliveries.WithLabelValues(oc.String()).Inc()
	// Only a delivery that was attempted says something about the endpoint;
	// an occurrence refused before any call (the budget) keeps the last
	// call's condition.
	if deliveryVerdicts[oc] != notAttempted {
		ps.condReason, ps.condMessage = res.ConditionReason, res.ConditionMessage
	}
	if ps.delivering.observe(oc, &out, it.req.Policy.Generation) {
		w.log.Info("Delivering condition changed", "policy", ps.key, "status", ps.delivering.cond.Status, "reason", ps.delivering.cond.Reason, "mcpStatus", out.McpStatus, "consecutiveFailures", ps.delivering.failures)
	}
	w.recordLocked(ps, ev, it.count, it.eventTime, now, oc, &out, out.Message)
	// After the outcome is recorded; Notify never blocks.
	w.notifyLocked(ps, it, notify.PhaseComplete, &out, res.Report)
}

// interrupted records an automatic-mode call cut off by the drain timeout
// after its record was written.
func (w *Watcher) interrupted(ctx context.Context, it *item) {
	w.admitted.Add(-1)
	key := delivery.IdempotencyKey(string(it.ps.uid), it.req.OccurrenceKey)
	res := delivery.Result{Outcome: delivery.Interrupted(key, "The drain timeout cut off this automatic-mode call while it was in flight")}
	w.recordOutcome(ctx, it, &res)
	w.finish(it, res)
}

// recordLocked counts one occurrence's outcome and marks it handled.
func (w *Watcher) recordLocked(ps *policyState, ev *corev1.Event, count int32, t, now time.Time, oc outcome, out *v1alpha1.RemediationOutcome, msg string) {
	ps.checkpoint.markHandled(ev.UID, count, t)
	ps.checkpoint.record(oc, out, now)
	ps.dirty++
	metricOutcomes.WithLabelValues(oc.String()).Inc()
	if ps.dirty >= w.opts.CheckpointBatch {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	// One Kubernetes Event per policy and outcome per eventEmitInterval.
	if last, ok := ps.lastEmit[oc]; ok && now.Sub(last) < eventEmitInterval {
		return
	}
	ps.lastEmit[oc] = now
	if ps.policy == nil {
		return
	}
	note := fmt.Sprintf("Event %s/%s (%s %s/%s): %s", ev.Namespace, ev.Name, ev.Reason, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, oc)
	if msg != "" {
		note += ": " + msg
	}
	w.recorder.Eventf(ps.policy, nil, oc.spec().eventType, oc.spec().reason, "Process", "%s", text.Truncate(note, maxEventNoteBytes))
}
