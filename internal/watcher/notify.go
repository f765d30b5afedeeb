package watcher

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/notify"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/text"
)

// Notifier takes notifications; Notify must never block (notify.Notifier
// has its own bounded queue: decision 21 (docs/design/decisions.md#d21)).
type Notifier interface {
	Notify(it notify.Item, dests []policy.Destination)
}

// WithNotifier sends notifications of recorded outcomes and started calls.
func WithNotifier(n Notifier) Option { return func(o *Options) { o.Notifier = n } }

// notifyLocked owes an occurrence's notification, after its outcome was
// recorded (PhaseComplete) or before its call (PhaseStart): the item joins
// the policy's notification account in the checkpoint and reaches the
// notifier once that checkpoint is saved (handOverLocked), so a SIGKILL at
// any point leaves it either unowed with its outcome unsaved (the occurrence
// is processed again) or owed (sent or counted after the restart).
// ps.mu is held.
func (w *Watcher) notifyLocked(ps *policyState, it *item, phase notify.Phase, out *v1alpha1.RemediationOutcome, report *mcp.Result) {
	if w.opts.Notifier == nil || ps.policy == nil || ps.policy.Spec.Notifications == nil {
		return
	}
	if phase == notify.PhaseComplete && !notify.Notified(out.Result) {
		return
	}
	dests := policy.ResolveNotifications(ps.policy, w.settings)
	if len(dests) == 0 {
		return
	}
	ev := it.req.Event
	n := notify.Item{
		Policy: ps.key, PolicyUID: ps.uid, Key: it.req.OccurrenceKey, Phase: phase,
		Namespace: ev.InvolvedObject.Namespace, Object: ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name,
		EventReason: ev.Reason, EventMessage: ev.Message, Mode: it.req.Effective.Mode, Report: report,
	}
	if n.Namespace == "" {
		n.Namespace = ev.Namespace
	}
	if out != nil {
		n.Outcome = *out
	}
	var kinds kindBits
	for _, d := range dests {
		if notify.Wants(d, &n) {
			kinds |= kindBit(d.Kind)
		}
	}
	if kinds == 0 {
		return
	}
	ps.dirty++
	if ps.checkpoint.Notify.owe(n, kinds) == 0 {
		for _, k := range destinationKinds {
			if kinds&kindBit(k) != 0 {
				ps.checkpoint.Notify.count(k, notify.DroppedQueueFull, 1)
				notify.RecordOutcome(k, notify.DroppedQueueFull, 1)
			}
		}
	}
}

// handover is one item for the notifier.
type handover struct {
	item  notify.Item
	dests []policy.Destination
}

// handOverLocked takes the owed items up to Seq upTo, whose owing was just
// saved, for the notifier. A destination kind the policy no longer has
// counts its items as failed. ps.mu is held.
func (w *Watcher) handOverLocked(ps *policyState, upTo uint64) []handover {
	if w.opts.Notifier == nil || ps.checkpoint == nil {
		return nil
	}
	l := &ps.checkpoint.Notify
	var dests []policy.Destination
	if ps.policy != nil && ps.policy.Spec.Notifications != nil {
		dests = policy.ResolveNotifications(ps.policy, w.settings)
	}
	var out []handover
	var gone []struct {
		kind policy.DestinationKind
		seq  uint64
	}
	// Recovered items with details first, so that a restart's message
	// lists them (they are in one window; the order only matters there).
	order := make([]int, 0, len(l.Owed))
	for i := range l.Owed {
		if e := &l.Owed[i]; !e.handed && e.Seq <= upTo {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmpBool(l.Owed[a].recovered && l.Owed[a].Item.Object == "", l.Owed[b].recovered && l.Owed[b].Item.Object == "")
	})
	for _, i := range order {
		e := &l.Owed[i]
		e.handed = true
		h := handover{item: e.Item}
		for _, k := range destinationKinds {
			if e.Kinds&kindBit(k) == 0 {
				continue
			}
			if j := slices.IndexFunc(dests, func(d policy.Destination) bool { return d.Kind == k }); j >= 0 {
				h.dests = append(h.dests, dests[j])
			} else {
				gone = append(gone, struct {
					kind policy.DestinationKind
					seq  uint64
				}{k, e.Seq})
			}
		}
		if len(h.dests) > 0 {
			out = append(out, h)
		}
	}
	for _, g := range gone {
		if l.settle(g.kind, notify.Failed, []uint64{g.seq}) {
			notify.RecordOutcome(g.kind, notify.Failed, 1)
			ps.dirty++
		}
	}
	return out
}

// NotificationEnded is the notifier's OnEnded: it counts the items'
// outcome in the policy's account and deletes the message's intent once
// that is saved. The intent of a policy that is gone goes at once.
func (w *Watcher) NotificationEnded(p types.NamespacedName, uid types.UID, kind policy.DestinationKind, o notify.Outcome, seqs []uint64, messageID string) {
	w.mu.RLock()
	ps := w.policies[uid]
	w.mu.RUnlock()
	if ps != nil {
		ps.mu.Lock()
		if !ps.deleted && ps.checkpoint != nil {
			if ps.checkpoint.Notify.settle(kind, o, seqs) {
				ps.dirty++
			}
			if messageID != "" {
				ps.resolvedNotifications = append(ps.resolvedNotifications, messageID)
				ps.dirty++
			}
			ps.mu.Unlock()
			return
		}
		ps.mu.Unlock()
	}
	if messageID != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.store.DeleteNotification(ctx, messageID); err != nil {
			w.log.Error(err, "Failed to delete the notification intent of a deleted policy", "policy", p)
		}
	}
}

// settleNotificationIntents counts the owed items of messages whose intent
// an earlier process left as interrupted (they may have been sent: never
// again) and deletes those intents once that is saved; the other owed
// items are handed over again after the next save. ps.mu is held.
func (w *Watcher) settleNotificationIntents(ctx context.Context, ps *policyState) error {
	l := &ps.checkpoint.Notify
	l.own(ps.key, ps.uid)
	if w.opts.Notifier == nil {
		return nil
	}
	recs, err := w.store.Notifications(ctx)
	if err != nil {
		return err
	}
	for i := range recs {
		r := &recs[i]
		if types.UID(r.Spec.Policy.UID) != ps.uid {
			continue
		}
		n := r.Spec.Notification
		kind := policy.DestinationKind(n.Kind)
		k := int(n.Items)
		if n.FirstSeq > 0 {
			k = l.settleRange(kind, notify.Interrupted, uint64(n.FirstSeq), uint64(max(n.LastSeq, n.FirstSeq)))
		} else {
			l.count(kind, notify.Interrupted, int64(k)) // an intent without its items' numbers
		}
		notify.RecordOutcome(kind, notify.Interrupted, k)
		ps.resolvedNotifications = append(ps.resolvedNotifications, n.MessageID)
		ps.dirty++
		if k > 0 {
			w.log.Info("Notification message interrupted by a restart; not sent again", "policy", ps.key, "kind", kind, "items", k)
		}
	}
	if len(l.Owed) > 0 {
		ps.dirty++ // a save hands them over
		w.log.Info("Notifications owed by an earlier process are sent now", "policy", ps.key, "items", len(l.Owed))
	}
	return nil
}

// NotificationStatus is the notifier's OnStatus: it keeps the policy's
// Notifying condition (one entry per failing destination kind) and posts a
// Warning Event on a permanent failure. The message never holds the URL
// (notify's messages name the Secret, not its value).
func (w *Watcher) NotificationStatus(key types.NamespacedName, kind policy.DestinationKind, ok bool, reason, msg string) {
	w.mu.Lock()
	var ps *policyState
	for _, p := range w.policies {
		if p.key == key {
			ps = p
			break
		}
	}
	w.mu.Unlock()
	if ps == nil {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.notifyFailures == nil {
		ps.notifyFailures = map[policy.DestinationKind]string{}
	}
	prev, had := ps.notifyFailures[kind]
	if ok {
		delete(ps.notifyFailures, kind)
	} else {
		ps.notifyFailures[kind] = reason + ": " + msg
	}
	cond := notifyingCondition(ps.notifyFailures, ps.policy)
	if ps.notifying == nil || ps.notifying.Status != cond.Status || ps.notifying.Message != cond.Message {
		ps.notifying = &cond
		ps.statusDirty = true
	}
	if !ok && (!had || prev != ps.notifyFailures[kind]) && ps.policy != nil {
		w.recorder.Eventf(ps.policy, nil, corev1.EventTypeWarning, v1alpha1.ReasonNotificationFailing, "Notify", "%s",
			text.Truncate(fmt.Sprintf("Notifications to %s fail: %s", kind, ps.notifyFailures[kind]), maxEventNoteBytes))
	}
}

func notifyingCondition(failures map[policy.DestinationKind]string, p *v1alpha1.RemediationPolicy) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionNotifying, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonNotified,
		Message: "The last notification of every destination was sent"}
	if p != nil {
		c.ObservedGeneration = p.Generation
	}
	if len(failures) == 0 {
		return c
	}
	kinds := make([]string, 0, len(failures))
	for k := range failures {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, k+" "+failures[policy.DestinationKind(k)])
	}
	c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.ReasonNotificationFailing
	c.Message = text.TruncateRunes(strings.Join(parts, "; "), v1alpha1.MaxConditionMessageLength)
	return c
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
