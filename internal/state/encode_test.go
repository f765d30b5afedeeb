package state

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/api/v1alpha1"
)

// marksOf is a handled-marks list of about size bytes, as the watcher
// writes it.
func marksOf(size int) string {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "0b6c3a2e-4f1d-4c8e-9a7b-%012d %d %d\n", i, i%7+1, 1764500000+i)
	}
	return b.String()
}

func checkpointState(cp *v1alpha1.CheckpointState) *v1alpha1.ControllerState {
	return &v1alpha1.ControllerState{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ControllerState"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "dot-ai", Name: "checkpoint-1", ResourceVersion: "42", Labels: map[string]string{"a": "<b>&"}},
		Spec: v1alpha1.ControllerStateSpec{
			FormatVersion: v1alpha1.CurrentStateFormat,
			Policy:        v1alpha1.StatePolicyReference{Namespace: "team", Name: "p", UID: "u-1"},
			Checkpoint:    cp,
		},
	}
}

func TestEncodeEqualsMarshal(t *testing.T) {
	since := metav1.NewTime(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	odd := `quote " backslash \ <html> & ünïcode ` + "\x01 tab\t"
	tests := []struct {
		name string
		obj  *v1alpha1.ControllerState
	}{
		{"short lists stay in json.Marshal", checkpointState(&v1alpha1.CheckpointState{Since: &since, Handled: "a 1 2\n", Cooldowns: "1 x\n"})},
		{"long lists, odd text elsewhere", checkpointState(&v1alpha1.CheckpointState{
			Since: &since, Handled: marksOf(480_000), Cooldowns: strings.Repeat("1764500000000 0123456789abcdef0123456789abcdef\n", 200),
			Recurrence:     strings.Repeat("0123456789abcdef0123456789abcdef 1764500000,1764500001\n", 100),
			RecentOutcomes: []v1alpha1.RemediationOutcome{{Event: "team/e", Reason: odd, Time: since, Result: v1alpha1.OutcomeResult("Sent")}},
			Notifications:  v1alpha1.NotificationLedgerState{NextSeq: 3, Owed: "1 slack sent " + odd + "\n"},
		})},
		{"quotes and backslashes in a long list", checkpointState(&v1alpha1.CheckpointState{Since: &since, Handled: strings.Repeat(`a "b" \c`+"\n", 1000)})},
		{"a long list with a control byte falls back", checkpointState(&v1alpha1.CheckpointState{Since: &since, Handled: marksOf(8000) + "\x01\n"})},
		{"a long list with UTF-8 falls back", checkpointState(&v1alpha1.CheckpointState{Since: &since, Handled: marksOf(8000) + "ü\n"})},
		{"pod owners", &v1alpha1.ControllerState{
			ObjectMeta: metav1.ObjectMeta{Namespace: "dot-ai", Name: "pod-owners"},
			Spec:       v1alpha1.ControllerStateSpec{FormatVersion: 1, PodOwners: &v1alpha1.PodOwnersState{Pods: strings.Repeat("uid apps/ReplicaSet web-1 uid2 1764500000 CrashLoopBackOff\n", 500)}},
		}},
		{"no checkpoint", &v1alpha1.ControllerState{ObjectMeta: metav1.ObjectMeta{Name: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := json.Marshal(tt.obj)
			require.NoError(t, err)
			got, err := encode(tt.obj)
			require.NoError(t, err)
			require.True(t, json.Valid(got), "valid JSON")
			after, err := json.Marshal(tt.obj)
			require.NoError(t, err)
			assert.Equal(t, string(before), string(after), "the object is left as it was")

			var want, decoded v1alpha1.ControllerState
			require.NoError(t, json.Unmarshal(before, &want))
			require.NoError(t, json.Unmarshal(got, &decoded))
			assert.Equal(t, want, decoded, "decodes to what json.Marshal's encoding decodes to")
		})
	}
}

// TestEncodeAllocatesOnce bounds what an encode of a full checkpoint
// allocates: the output plus the small remainder. json.Marshal grows its
// pooled buffer by doubling to twice the output, then copies it; the pool
// is emptied by two collections, which the controller runs more often than
// it writes a policy's checkpoint under a storm (about 1.3 a second), so
// each call is measured after two.
func TestEncodeAllocatesOnce(t *testing.T) {
	since := metav1.NewTime(time.Now())
	obj := checkpointState(&v1alpha1.CheckpointState{Since: &since, Handled: marksOf(480_000)})
	out, err := encode(obj)
	require.NoError(t, err)

	allocated := func(f func()) uint64 {
		const n = 10
		var total uint64
		for range n {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.GC()
			runtime.ReadMemStats(&before)
			f()
			runtime.ReadMemStats(&after)
			total += after.TotalAlloc - before.TotalAlloc
		}
		return total / n
	}
	ours := allocated(func() { _, _ = encode(obj) })
	marshal := allocated(func() { _, _ = json.Marshal(obj) })
	t.Logf("output %d B; allocated per encode %d B, per json.Marshal %d B", len(out), ours, marshal)
	assert.Less(t, ours, uint64(len(out))*11/10, "one buffer of the output's size, and little else")
	assert.Greater(t, marshal, 2*ours, "json.Marshal allocates more than twice as much (else this code has no purpose)")
}
