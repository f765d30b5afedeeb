package watcher

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/notify"
	"dot-ai.io/controller/internal/policy"
)

const (
	slackBit   = kindBits(1)
	webhookBit = kindBits(4)
)

func owedItemOf(i int) notify.Item {
	return notify.Item{Key: fmt.Sprintf("pol/ev-%d/1", i), Phase: notify.PhaseComplete, Namespace: "app", Object: "Pod/api-1",
		EventReason: "BackOff", Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeAnalysisCompleted, Time: metav1.NewTime(time.Unix(1_700_000_000, 0))}}
}

// TestNotifyLedgerSettle: every owed item ends in exactly one outcome per
// destination kind, whatever order and repetition the outcomes arrive in.
func TestNotifyLedgerSettle(t *testing.T) {
	tests := map[string]struct {
		settle  func(l *notifyLedger)
		want    map[policy.DestinationKind]v1alpha1.NotificationCounts
		owedLen int
	}{
		"each kind once": {func(l *notifyLedger) {
			l.settle(policy.DestinationSlack, notify.Sent, []uint64{1, 2})
			l.settle(policy.DestinationWebhook, notify.Failed, []uint64{1, 2, 3})
		}, map[policy.DestinationKind]v1alpha1.NotificationCounts{
			policy.DestinationSlack:   {Kind: "slack", Sent: 2, Pending: 1},
			policy.DestinationWebhook: {Kind: "webhook", Failed: 3},
		}, 1},
		"a second outcome is not counted": {func(l *notifyLedger) {
			l.settle(policy.DestinationSlack, notify.Sent, []uint64{1})
			l.settle(policy.DestinationSlack, notify.Interrupted, []uint64{1})
		}, map[policy.DestinationKind]v1alpha1.NotificationCounts{
			policy.DestinationSlack:   {Kind: "slack", Sent: 1, Pending: 2},
			policy.DestinationWebhook: {Kind: "webhook", Pending: 3},
		}, 3},
		"unknown items and kinds are ignored": {func(l *notifyLedger) {
			l.settle(policy.DestinationGoogleChat, notify.Sent, []uint64{1, 2, 3})
			l.settle(policy.DestinationSlack, notify.Sent, []uint64{0, 9})
		}, map[policy.DestinationKind]v1alpha1.NotificationCounts{
			policy.DestinationSlack:   {Kind: "slack", Pending: 3},
			policy.DestinationWebhook: {Kind: "webhook", Pending: 3},
		}, 3},
		"a range settles what is owed in it": {func(l *notifyLedger) {
			l.settle(policy.DestinationWebhook, notify.Sent, []uint64{2})
			assert.Equal(t, 2, l.settleRange(policy.DestinationWebhook, notify.Interrupted, 1, 3))
		}, map[policy.DestinationKind]v1alpha1.NotificationCounts{
			policy.DestinationSlack:   {Kind: "slack", Pending: 3},
			policy.DestinationWebhook: {Kind: "webhook", Sent: 1, Interrupted: 2},
		}, 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var l notifyLedger
			l.owe(owedItemOf(1), slackBit|webhookBit)
			l.owe(owedItemOf(2), slackBit|webhookBit)
			l.owe(owedItemOf(3), slackBit|webhookBit)
			tc.settle(&l)
			got := map[policy.DestinationKind]v1alpha1.NotificationCounts{}
			for _, c := range l.status() {
				got[policy.DestinationKind(c.Kind)] = c
				assert.Equal(t, int64(3), c.Ended()+c.Pending, "%s adds up", c.Kind)
			}
			assert.Equal(t, tc.want, got)
			assert.Len(t, l.Owed, tc.owedLen)
		})
	}
}

// TestNotifyLedgerCap: beyond maxOwed, owe refuses (the caller counts the
// item as droppedQueueFull).
func TestNotifyLedgerCap(t *testing.T) {
	var l notifyLedger
	for i := range maxOwed {
		require.NotZero(t, l.owe(owedItemOf(i), slackBit))
	}
	assert.Zero(t, l.owe(owedItemOf(maxOwed), slackBit))
	l.settle(policy.DestinationSlack, notify.Sent, []uint64{1})
	assert.NotZero(t, l.owe(owedItemOf(maxOwed), slackBit), "room again once one ended")
}

// TestNotifyLedgerRoundTrip: what is saved is what a restart finds: the
// counters, the owed items with their kinds, and what a message lists of
// the newest maxOwedDetailed of each kind (the rest only counted).
func TestNotifyLedgerRoundTrip(t *testing.T) {
	var l notifyLedger
	for i := range maxOwedDetailed + 5 {
		l.owe(owedItemOf(i), slackBit)
	}
	l.owe(owedItemOf(99), webhookBit)
	l.settle(policy.DestinationSlack, notify.DroppedRateLimited, []uint64{1})
	data, err := json.Marshal(l.state())
	require.NoError(t, err)
	var stored v1alpha1.NotificationLedgerState
	require.NoError(t, json.Unmarshal(data, &stored))
	r := ledgerFromState(&stored)
	r.own(types.NamespacedName{Namespace: "app", Name: "p"}, "uid-1")

	assert.Equal(t, l.Next, r.Next)
	assert.Equal(t, l.status(), r.status())
	require.Len(t, r.Owed, len(l.Owed))
	oldest := r.Owed[0].Item
	assert.Equal(t, uint64(2), oldest.Seq)
	assert.Empty(t, oldest.Object, "beyond the newest detailed ones only the number and kinds are kept")
	assert.True(t, r.Owed[0].recovered)
	n := len(r.Owed) - 2 // the newest slack item
	newest := r.Owed[n].Item
	assert.Equal(t, fmt.Sprintf("uid-1/ev-%d/1", n+1), newest.Key)
	assert.Equal(t, "Pod/api-1", newest.Object)
	assert.Equal(t, "BackOff", newest.EventReason)
	assert.Equal(t, v1alpha1.OutcomeAnalysisCompleted, newest.Outcome.Result)
	assert.Equal(t, types.UID("uid-1"), newest.PolicyUID)
	assert.Equal(t, types.NamespacedName{Namespace: "app", Name: "p"}, newest.Policy)
	detailed := 0
	for _, e := range r.Owed[:len(r.Owed)-1] {
		if e.Item.Object != "" {
			detailed++
		}
	}
	assert.Equal(t, maxOwedDetailed, detailed, "the newest of each kind keep their details")
	last := r.Owed[len(r.Owed)-1]
	assert.Equal(t, webhookBit, last.Kinds)
	assert.Equal(t, "Pod/api-1", last.Item.Object, "each kind keeps its own newest")
}
