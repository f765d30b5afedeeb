package watcher

import (
	"fmt"
	"slices"
	"strings"

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

// notifyLocked hands an occurrence to the notifier, after its outcome was
// recorded (PhaseComplete) or before its call (PhaseStart). ps.mu is held.
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
	dests = slices.DeleteFunc(dests, func(d policy.Destination) bool { return !notify.Wants(d, &n) })
	if len(dests) > 0 {
		w.opts.Notifier.Notify(n, dests)
	}
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
