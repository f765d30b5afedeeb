package watcher

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/notify"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/policy/policytest"
)

// recordingNotifier keeps what it is handed.
type recordingNotifier struct {
	mu    sync.Mutex
	items []notify.Item
	dests [][]policy.Destination
}

func (r *recordingNotifier) Notify(it notify.Item, dests []policy.Destination) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, it)
	r.dests = append(r.dests, dests)
}

type fixedDeliverer struct{ res delivery.Result }

func (f fixedDeliverer) Deliver(context.Context, delivery.Request) delivery.Result { return f.res }

// TestNotifyAfterOutcome: a recorded outcome of a policy with notifications
// is owed in the checkpoint and reaches the notifier, once that is saved,
// with the event, the outcome and dot-ai's report, after a start item when
// notifyOnStart is on; the outcome is counted either way.
func TestNotifyAfterOutcome(t *testing.T) {
	report := &mcp.Result{Status: "awaiting_user_approval", SessionID: "rem-1", Analysis: &mcp.Analysis{RootCause: "DATABASE_URL unset", Confidence: 0.9}}
	tests := map[string]struct {
		notifications *v1alpha1.Notifications
		result        v1alpha1.OutcomeResult
		phases        []notify.Phase
	}{
		"no notifications": {nil, v1alpha1.OutcomeAnalysisCompleted, nil},
		"complete only": {&v1alpha1.Notifications{Slack: &v1alpha1.NotificationDestination{
			WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "s", Key: "url"}}}, v1alpha1.OutcomeAnalysisCompleted, []notify.Phase{notify.PhaseComplete}},
		"start and complete": {&v1alpha1.Notifications{Webhook: &v1alpha1.NotificationDestination{NotifyOnStart: new(true),
			WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "s", Key: "url"}}}, v1alpha1.OutcomeDeliveryFailed, []notify.Phase{notify.PhaseStart, notify.PhaseComplete}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
			w := newUnitWatcher(clk, 3)
			rec := &recordingNotifier{}
			w.opts.Notifier = rec
			w.deliverer = fixedDeliverer{delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: tc.result, SessionID: "rem-1"}, Report: report}}
			p := policytest.Policy("app", v1alpha1.EventSelector{Type: "Warning"})
			p.Spec.Notifications = tc.notifications
			ps := &policyState{uid: p.UID, key: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, policy: p,
				checkpoint: newCheckpoint(clk.Now().Add(-time.Hour)), pending: map[types.UID]int32{}, lastEmit: map[outcome]time.Time{}}
			w.policies[p.UID] = ps
			ev := policytest.Event("app", "Warning", "BackOff", "Pod", "api-1", "Back-off restarting failed container")
			w.admitted.Add(1)
			w.deliver(t.Context(), &item{ps: ps, uid: ev.UID, count: 1, req: delivery.Request{Policy: p, Event: ev, OccurrenceKey: "k1", SeenAt: clk.Now(),
				Effective: policy.Resolve(p, 0, w.settings)}})

			assert.Equal(t, int64(1), ps.checkpoint.Counts.TotalEventsProcessed, "the outcome is recorded")
			assert.Empty(t, rec.items, "nothing reaches the notifier before the checkpoint that owes it is saved")
			assert.Len(t, ps.checkpoint.Notify.Owed, len(tc.phases), "each item is owed in the checkpoint")
			for _, h := range w.handOverLocked(ps, ps.checkpoint.Notify.Next) { // as after a save
				rec.Notify(h.item, h.dests)
			}
			assert.Empty(t, w.handOverLocked(ps, ps.checkpoint.Notify.Next), "handed over once")
			var phases []notify.Phase
			for _, it := range rec.items {
				phases = append(phases, it.Phase)
				assert.Equal(t, "Pod/api-1", it.Object)
				assert.Equal(t, "BackOff", it.EventReason)
				assert.Equal(t, "k1", it.Key)
			}
			assert.Equal(t, tc.phases, phases)
			if len(rec.items) > 0 {
				last := rec.items[len(rec.items)-1]
				assert.Equal(t, tc.result, last.Outcome.Result)
				assert.Same(t, report, last.Report)
				require.Len(t, rec.dests[0], 1)
			}
		})
	}
}

// TestNotifyingCondition: a permanent failure turns Notifying False with
// the destination kind and reason and posts a Warning Event; a success of
// that destination turns it True again.
func TestNotifyingCondition(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	w := newUnitWatcher(clk, 3)
	rec := events.NewFakeRecorder(10)
	w.recorder = rec
	p := policytest.Policy("app", v1alpha1.EventSelector{Type: "Warning"})
	key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	ps := &policyState{uid: p.UID, key: key, policy: p}
	w.policies[p.UID] = ps

	w.NotificationStatus(key, policy.DestinationSlack, true, notify.ReasonOK, "")
	require.NotNil(t, ps.notifying)
	assert.Equal(t, metav1.ConditionTrue, ps.notifying.Status)

	w.NotificationStatus(key, policy.DestinationSlack, false, "channel_is_archived", "the slack destination refused the message: channel_is_archived")
	assert.Equal(t, metav1.ConditionFalse, ps.notifying.Status)
	assert.Equal(t, v1alpha1.ReasonNotificationFailing, ps.notifying.Reason)
	assert.Contains(t, ps.notifying.Message, "slack channel_is_archived")
	assert.True(t, ps.statusDirty)
	require.Len(t, rec.Events, 1)
	assert.Contains(t, <-rec.Events, "Warning NotificationFailing Notifications to slack fail: channel_is_archived")

	w.NotificationStatus(key, policy.DestinationSlack, false, "channel_is_archived", "the slack destination refused the message: channel_is_archived")
	assert.Empty(t, rec.Events, "the same failure again posts no second Event")

	w.NotificationStatus(key, policy.DestinationSlack, true, notify.ReasonOK, "")
	assert.Equal(t, metav1.ConditionTrue, ps.notifying.Status)
}
