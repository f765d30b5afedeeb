package watcher

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/text"
)

// State of a policy across restarts: its checkpoint (migrated from the
// ConfigMap of the first format when there is no other), and the write-ahead
// intents of automatic-mode calls (decision 17 (docs/design/decisions.md#d17)
// (docs/design/decisions.md#d17)). Intents are Remediation records now
// (records.go); the ControllerState intents an earlier release left are still
// resolved here, once, and removed when their outcome is checkpointed: an
// intent found at start-up without its outcome ends that occurrence as
// Interrupted, and the call is never sent again. None is written any more.

// loadState loads the policy's checkpoint and resolves the intents and
// records an earlier process left. Called with ps.mu held, before any of the
// policy's events is selected.
func (w *Watcher) loadState(ctx context.Context, ps *policyState, p *v1alpha1.RemediationPolicy, suspended bool) error {
	stored, rv, err := w.store.LoadCheckpoint(ctx, p.UID)
	if err != nil {
		return err
	}
	intents, err := w.store.Intents(ctx, p.UID)
	if err != nil {
		return err
	}
	var cp *checkpoint
	switch {
	case stored != nil:
		cp = checkpointFromState(stored)
		ps.saved = cp.savedStatus()
	default:
		legacy, err := w.store.LegacyCheckpoint(ctx, p.UID)
		if err != nil {
			return err
		}
		if legacy != nil {
			if cp, err = checkpointFromLegacy(legacy, &p.Status); err != nil {
				return err
			}
			// A policy of the first release passed its webhook, which had
			// no access checks yet: it is admitted once, as it stands
			// (docs/upgrading.md).
			if w.opts.Ledger != nil {
				if err := w.opts.Ledger.Record(ctx, p); err != nil {
					return err
				}
			}
			w.log.Info("Migrated the policy's checkpoint ConfigMap; it is no longer used and may be deleted", "policy", ps.key)
		} else {
			cp = newCheckpoint(p.CreationTimestamp.Time)
			cp.Suspended = suspended
		}
		ps.dirty++
	}
	ps.checkpoint, ps.rv = cp, rv
	if err := w.settleNotificationIntents(ctx, ps); err != nil {
		ps.checkpoint = nil // loaded again on the retry
		return err
	}
	now := w.clock.Now()
	for i := range intents {
		in := &intents[i]
		ps.resolvedIntents = append(ps.resolvedIntents, in.OccurrenceKey)
		ps.dirty++
		var evTime time.Time
		if in.Event.Time != nil {
			evTime = in.Event.Time.Time
		}
		if cp.isHandled(types.UID(in.Event.UID), in.Event.Count, evTime) {
			continue // its outcome was saved; only the intent was left
		}
		ev := intentEvent(in)
		out := delivery.Interrupted(in.IdempotencyKey, "The controller stopped while this automatic-mode call was in flight")
		out.Event, out.Reason, out.InvolvedObject = ev.Namespace+"/"+ev.Name, ev.Reason, in.Event.InvolvedObject
		out.Time = metav1.NewTime(now)
		w.recordLocked(ps, ev, in.Event.Count, evTime, now, outcomeInterrupted, &out, "")
		w.recorder.Eventf(p, nil, corev1.EventTypeWarning, outcomeInterrupted.spec().reason, "Process", "%s",
			text.Truncate("Event "+out.Event+" ("+out.Reason+" "+out.InvolvedObject+"): "+out.Message, maxEventNoteBytes))
		w.log.Info("Automatic-mode call interrupted by a restart; not sent again", "policy", ps.key, "event", out.Event, "idempotencyKey", in.IdempotencyKey)
	}
	return w.loadRecords(ctx, ps, p)
}

// intentEvent is the part of the Event an intent records.
func intentEvent(in *v1alpha1.IntentState) *corev1.Event {
	kind, name, _ := strings.Cut(in.Event.InvolvedObject, "/")
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: in.Event.Namespace, Name: in.Event.Name, UID: types.UID(in.Event.UID)},
		Reason:         in.Event.Reason,
		InvolvedObject: corev1.ObjectReference{Kind: kind, Name: name, Namespace: in.Event.Namespace},
	}
}
