package watcher

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/remediation"
	"dot-ai.io/controller/internal/text"
)

// Remediation records (internal/remediation) of delivered occurrences. The
// record is the write-ahead intent of decision 17 (docs/design/decisions.md#d17):
// created before the call may leave, without a status (its effective phase
// is Executing for an automatic-mode call and Analyzing for a manual-mode
// one, Remediation.EffectivePhase), and updated with dot-ai's answer before
// the outcome is counted. At start-up an automatic-mode record still Executing whose
// occurrence the checkpoint does not hold ends that occurrence as
// Interrupted; its call is never sent again.

// recordWriteTimeout bounds a record write made after the delivery's context
// ended (the drain timeout cut the call off).
const recordWriteTimeout = 10 * time.Second

// recordKey is the record of an occurrence.
func recordKey(req *delivery.Request) types.NamespacedName {
	return types.NamespacedName{Namespace: req.Event.Namespace,
		Name: remediation.Name(delivery.IdempotencyKey(string(req.Policy.UID), req.OccurrenceKey))}
}

// capped reports whether a manual-mode occurrence's namespace holds the
// installation's maximum of open proposals: it then ends in the proposalCap
// outcome, with no call and no record. A re-sent analysis (its record
// exists) and a dry run are never capped.
func (w *Watcher) capped(it *item) bool {
	if w.records == nil || it.recordName != "" || it.req.Effective.Mode != v1alpha1.ModeManual || it.req.Effective.DryRun {
		return false
	}
	return w.records.Index.Full(it.req.Event.Namespace, w.settings.Remediations.MaxOpenPerNamespace)
}

// beforeSend is the Request.BeforeSend of a delivered occurrence: it
// creates the occurrence's record once (an occurrence offered again after a
// hold already has it).
func (w *Watcher) beforeSend(it *item) func(context.Context) error {
	return func(ctx context.Context) error {
		if it.recordBegun {
			return nil
		}
		auto := it.req.Effective.Mode == v1alpha1.ModeAutomatic
		url, err := it.req.Effective.ToolURL()
		if err != nil {
			return err
		}
		phase := v1alpha1.PhaseAnalyzing
		if auto {
			phase = v1alpha1.PhaseExecuting
		}
		rec := remediation.New(remediation.Occurrence{Request: it.req, Count: it.count, Time: it.eventTime, URL: url})
		cur, err := w.records.Begin(ctx, rec, phase)
		switch {
		case errors.Is(err, remediation.ErrExists):
			it.recordName = rec.Name
			if auto || cur == nil {
				return delivery.ErrInterrupted
			}
			if p := cur.Status.Phase; p != "" && p != v1alpha1.PhaseAnalyzing {
				return delivery.ErrAnswered
			}
			it.recordBegun, it.record = true, cur // a re-sent analysis updates the same record
			return nil
		case err != nil:
			metricIntentWrites.WithLabelValues("error").Inc()
			return err
		}
		metricIntentWrites.WithLabelValues("ok").Inc()
		it.recordBegun, it.recordName, it.record = true, rec.Name, cur
		return nil
	}
}

// dropRecord deletes the record of an automatic-mode occurrence whose call
// was not made after all (held), so a restart does not take it for an
// interrupted call. If that fails the record stays: at most once still holds.
func (w *Watcher) dropRecord(ctx context.Context, it *item) {
	if w.records == nil || !it.recordBegun || it.req.Effective.Mode != v1alpha1.ModeAutomatic {
		return
	}
	key := recordKey(&it.req)
	obj := &v1alpha1.Remediation{}
	obj.Namespace, obj.Name = key.Namespace, key.Name
	if err := client.IgnoreNotFound(w.client.Delete(ctx, obj)); err == nil {
		w.records.Index.Delete(key)
		it.recordBegun, it.recordName, it.record = false, "", nil
	}
}

// recordOutcome writes a delivery's outcome and dot-ai's answer into the
// occurrence's record, or creates a Failed record for a delivery that failed
// before its call could leave, and names the record in the outcome. It runs
// before the outcome is counted, so a counted outcome always has its record.
func (w *Watcher) recordOutcome(ctx context.Context, it *item, res *delivery.Result) {
	if w.records == nil { // unit tests without an API server
		return
	}
	out := &res.Outcome
	key := recordKey(&it.req)
	phase, ok := remediation.PhaseOf(out, res.Report)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordWriteTimeout)
	defer cancel()
	now := w.clock.Now()
	status := func(st *v1alpha1.RemediationStatus) {
		remediation.Apply(st, phase, out, res.Report, now)
		if phase == v1alpha1.PhaseAwaitingApproval {
			st.ExpiresAt = w.records.ExpiresAt(now)
		}
	}
	switch {
	case ok && it.recordBegun:
		_, err := w.records.UpdateFrom(ctx, key, it.record, func(cur *v1alpha1.Remediation) bool {
			switch cur.EffectivePhase() {
			case v1alpha1.PhaseAnalyzing, v1alpha1.PhaseExecuting:
				status(&cur.Status)
				return true
			}
			return false // decided meanwhile: the record is no longer the delivery's
		})
		if err != nil {
			w.log.Error(err, "Failed to record the outcome in the Remediation record", "record", key)
		}
	case ok && out.Result == v1alpha1.OutcomeDeliveryFailed && it.recordName == "":
		url, err := it.req.Effective.ToolURL()
		if err != nil {
			break // no URL to record: the outcome alone says what failed
		}
		rec := remediation.New(remediation.Occurrence{Request: it.req, Count: it.count, Time: it.eventTime, URL: url})
		var st v1alpha1.RemediationStatus
		status(&st)
		if err := w.records.Create(ctx, rec, st); err != nil {
			w.log.Error(err, "Failed to create the Remediation record of a failed delivery", "record", key)
			break
		}
		it.recordName = rec.Name
	}
	if it.recordName != "" {
		out.Remediation = text.TruncateRunes(it.recordName, v1alpha1.MaxOutcomeRemediationLength)
	}
}

// loadRecords resolves the automatic-mode records an earlier process left in
// Executing: an occurrence the checkpoint does not hold ends as Interrupted
// (counted once, never sent again), and the record says so. Called with
// ps.mu held, from loadState.
func (w *Watcher) loadRecords(ctx context.Context, ps *policyState, p *v1alpha1.RemediationPolicy) error {
	if w.records == nil {
		return nil
	}
	var list v1alpha1.RemediationList
	if err := w.store.Reader.List(ctx, &list, client.MatchingLabels{
		remediation.LabelPolicyUID: string(p.UID), remediation.LabelMode: string(v1alpha1.ModeAutomatic),
	}); err != nil {
		return err
	}
	now := w.clock.Now()
	for i := range list.Items {
		rec := &list.Items[i]
		if rec.EffectivePhase() != v1alpha1.PhaseExecuting {
			continue
		}
		ev := recordEvent(rec)
		var evTime time.Time
		if t := rec.Spec.Event.Time; t != nil {
			evTime = t.Time
		}
		key := rec.Spec.IdempotencyKey
		out := delivery.Interrupted(key, "The controller stopped while this automatic-mode call was in flight")
		out.Event, out.Reason = ev.Namespace+"/"+ev.Name, ev.Reason
		out.InvolvedObject = text.TruncateRunes(ev.InvolvedObject.Kind+"/"+ev.InvolvedObject.Name, v1alpha1.MaxOutcomeInvolvedObjectLength)
		out.Time = metav1.NewTime(now)
		out.Remediation = rec.Name
		out.SessionID = rec.Status.SessionID
		_, err := w.records.Update(ctx, client.ObjectKeyFromObject(rec), func(cur *v1alpha1.Remediation) bool {
			if cur.EffectivePhase() != v1alpha1.PhaseExecuting {
				return false
			}
			remediation.Apply(&cur.Status, v1alpha1.PhaseInterrupted, &out, nil, now)
			return true
		})
		if err != nil {
			return err
		}
		if ps.checkpoint.isHandled(types.UID(rec.Spec.Event.UID), rec.Spec.Event.Count, evTime) {
			continue // counted already; only the record's answer was lost
		}
		w.recordLocked(ps, ev, rec.Spec.Event.Count, evTime, now, outcomeInterrupted, &out, "")
		w.recorder.Eventf(p, nil, corev1.EventTypeWarning, outcomeInterrupted.spec().reason, "Process", "%s",
			text.Truncate("Event "+out.Event+" ("+out.Reason+" "+out.InvolvedObject+"): "+out.Message, maxEventNoteBytes))
		w.log.Info("Automatic-mode call interrupted by a restart; not sent again", "policy", ps.key, "event", out.Event, "record", rec.Name)
	}
	return nil
}

// recordEvent is the part of the Event a record holds.
func recordEvent(rec *v1alpha1.Remediation) *corev1.Event {
	e := rec.Spec.Event
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: rec.Namespace, Name: e.Name, UID: types.UID(e.UID)},
		Reason:     e.Reason,
		InvolvedObject: corev1.ObjectReference{Kind: e.InvolvedObject.Kind, Name: e.InvolvedObject.Name,
			Namespace: e.InvolvedObject.Namespace, UID: types.UID(e.InvolvedObject.UID)},
	}
}
