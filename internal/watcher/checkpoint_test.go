package watcher

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/notify"
	"dot-ai.io/controller/internal/state"
)

// checkpointByteBudget is the stated budget of a checkpoint object
// (docs/design/state.md): well below etcd's 1.5 MiB request limit.
const checkpointByteBudget = 880 * 1024

// TestCheckpointByteBudget fills every part of a checkpoint to its cap with
// the longest values each can hold and measures the object as stored.
func TestCheckpointByteBudget(t *testing.T) {
	t0 := time.Unix(9_999_999_999, 0)
	c := newCheckpoint(t0)
	for i := range maxHandledEntries + 100 {
		c.markHandled(types.UID(fmt.Sprintf("%08x-0000-0000-0000-%012x", i, i)), 2147483647, t0.Add(time.Duration(i)*time.Second))
	}
	for i := range maxCooldowns + 100 {
		c.Cooldowns.start(strings.Repeat("x", 300)+fmt.Sprint(i), t0, 24*time.Hour)
	}
	long := func(n int) string { return strings.Repeat("é", n) } // 2 bytes a rune
	for range v1alpha1.MaxRecentOutcomes + 2 {
		c.record(outcomeAnalysis, &v1alpha1.RemediationOutcome{
			Event: long(v1alpha1.MaxOutcomeEventLength), Reason: long(v1alpha1.MaxOutcomeReasonLength),
			InvolvedObject: long(v1alpha1.MaxOutcomeInvolvedObjectLength), McpStatus: long(v1alpha1.MaxOutcomeMcpStatusLength),
			SessionID: long(v1alpha1.MaxOutcomeSessionIDLength), RootCause: long(v1alpha1.MaxOutcomeRootCauseLength),
			Message: long(v1alpha1.MaxOutcomeMessageLength), Time: metav1.NewTime(t0), Result: v1alpha1.OutcomeAnalysisCompleted,
		}, t0)
	}
	for i := range maxRecurrenceKeys + 10 {
		for j := range v1alpha1.MaxMinOccurrences {
			c.Recurrence.observe(fmt.Sprintf("%032d", i), t0.Add(time.Duration(j)*time.Second), v1alpha1.MaxMinOccurrences+1, 24*time.Hour)
		}
	}
	c.Notify.Next = 1 << 62 // the longest sequence numbers
	for range maxOwed + 10 {
		c.Notify.owe(notify.Item{
			Key: strings.Repeat("u", 36) + "/" + strings.Repeat("u", 36) + "/2147483647", Phase: notify.PhaseComplete,
			Namespace: strings.Repeat("n", 63), Object: long(400), EventReason: long(v1alpha1.MaxOutcomeReasonLength),
			Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeRemediationSucceeded, Time: metav1.NewTime(t0)},
		}, 7)
	}
	for _, k := range destinationKinds {
		for o := range notify.Interrupted + 1 {
			c.Notify.count(k, o, 1<<62)
		}
	}
	c.Counts.TotalEventsProcessed = 1 << 62
	c.Bucket.take(t0, 10000)
	c.Watermark = t0
	c.prune(t0, nil)

	obj := v1alpha1.ControllerState{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ControllerState"},
		ObjectMeta: metav1.ObjectMeta{Name: state.CheckpointName("00000000-0000-0000-0000-000000000000"), Namespace: strings.Repeat("n", 63)},
		Spec: v1alpha1.ControllerStateSpec{FormatVersion: 1, Checkpoint: c.state(),
			Policy: v1alpha1.StatePolicyReference{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("p", 253), UID: "00000000-0000-0000-0000-000000000000"}},
	}
	data, err := json.Marshal(obj)
	require.NoError(t, err)
	t.Logf("checkpoint at its caps: %d bytes (handled %d, cooldowns %d, recurrence %d, owed notifications %d)", len(data),
		len(obj.Spec.Checkpoint.Handled), len(obj.Spec.Checkpoint.Cooldowns), len(obj.Spec.Checkpoint.Recurrence),
		len(obj.Spec.Checkpoint.Notifications.Owed))
	assert.LessOrEqual(t, len(data), checkpointByteBudget)
	// The schema's own bounds hold at the caps.
	assert.LessOrEqual(t, len(obj.Spec.Checkpoint.Handled), 480000)
	assert.LessOrEqual(t, len(obj.Spec.Checkpoint.Cooldowns), 100000)
	assert.LessOrEqual(t, len(obj.Spec.Checkpoint.Recurrence), 150000)
	assert.LessOrEqual(t, len(obj.Spec.Checkpoint.Notifications.Owed), 80000)
	assert.Len(t, strings.Split(strings.TrimSpace(obj.Spec.Checkpoint.Notifications.Owed), "\n"), maxOwed)
	assert.Len(t, obj.Spec.Checkpoint.RecentOutcomes, v1alpha1.MaxRecentOutcomes)
}

// TestCheckpointRoundTrip: what is saved is what is loaded, counters and
// recent outcomes included.
func TestCheckpointRoundTrip(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := newCheckpoint(t0)
	c.markHandled("e1", 3, t0)
	c.record(outcomeAnalysis, &v1alpha1.RemediationOutcome{Event: "ns/e1", Result: v1alpha1.OutcomeAnalysisCompleted, Time: metav1.NewTime(t0)}, t0)
	c.record(outcomeRateLimited, nil, t0.Add(time.Second))
	c.record(outcomeInterrupted, &v1alpha1.RemediationOutcome{Event: "ns/e2", Result: v1alpha1.OutcomeInterrupted, Time: metav1.NewTime(t0)}, t0)
	c.Cooldowns.start("Deployment/ns/web#BackOff", t0, time.Hour)
	c.Bucket.take(t0, 7)
	c.Watermark = t0.Add(-time.Hour)

	data, err := json.Marshal(c.state())
	require.NoError(t, err)
	var stored v1alpha1.CheckpointState
	require.NoError(t, json.Unmarshal(data, &stored))
	r := checkpointFromState(&stored)

	assert.Equal(t, c.Counts, r.Counts)
	assert.Equal(t, int64(3), r.Counts.TotalEventsProcessed)
	assert.Equal(t, r.Counts.TotalEventsProcessed, r.Counts.OutcomeSum())
	assert.Equal(t, int64(1), r.Counts.InterruptedRemediations)
	require.Len(t, r.Recent, 2)
	assert.Equal(t, "ns/e2", r.Recent[0].Event, "newest first")
	assert.True(t, r.LastProcessed.Equal(t0), "the last outcome's time")
	assert.True(t, r.isHandled("e1", 3, t0))
	assert.True(t, r.Cooldowns.active("Deployment/ns/web#BackOff", t0.Add(time.Minute)))
	assert.False(t, r.Cooldowns.active("Deployment/ns/api#BackOff", t0.Add(time.Minute)))
	assert.InDelta(t, 6, r.Bucket.Tokens, 0.001)
	assert.True(t, r.Watermark.Equal(c.Watermark))
}

// TestCheckpointFromLegacy migrates the first format's ConfigMap data; its
// counters come from the policy's status, which that version wrote.
func TestCheckpointFromLegacy(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	data := map[string]string{
		"since":     t0.Format(time.RFC3339Nano),
		"watermark": t0.Add(time.Minute).Format(time.RFC3339Nano),
		"handled":   "e1 2 1700000100\nbroken line\n",
		"cooldowns": fmt.Sprintf("%d Pod/ns/p#BackOff\n", t0.Add(time.Hour).UnixMilli()),
		"bucket":    `{"tokens":4.5,"last":"` + t0.Format(time.RFC3339Nano) + `"}`,
		"suspended": "true",
	}
	st := &v1alpha1.RemediationPolicyStatus{OutcomeCounts: v1alpha1.OutcomeCounts{TotalEventsProcessed: 5, AnalysesCompleted: 4, SkippedEvents: 1},
		RecentOutcomes: []v1alpha1.RemediationOutcome{{Event: "ns/e1"}}}
	c, err := checkpointFromLegacy(data, st)
	require.NoError(t, err)
	assert.True(t, c.Since.Equal(t0))
	assert.True(t, c.isHandled("e1", 2, t0))
	assert.False(t, c.isHandled("e1", 3, t0.Add(time.Hour)))
	assert.True(t, c.isHandled("other", 1, t0), "below the watermark")
	assert.True(t, c.Cooldowns.active("Pod/ns/p#BackOff", t0), "raw keys are hashed on migration")
	assert.InDelta(t, 4.5, c.Bucket.Tokens, 0.001)
	assert.True(t, c.Suspended)
	assert.Equal(t, st.OutcomeCounts, c.Counts)
	assert.Equal(t, st.RecentOutcomes, c.Recent)

	_, err = checkpointFromLegacy(map[string]string{"since": "yesterday"}, st)
	assert.ErrorContains(t, err, "since")
}
