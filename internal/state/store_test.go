package state_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/notify"
	"dot-ai.io/controller/internal/state"
	"dot-ai.io/controller/internal/testenv"
)

func policy(name string, uid types.UID, reason string) *v1alpha1.RemediationPolicy {
	return &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, UID: uid},
		Spec:       v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{{Reason: reason}}},
	}
}

// TestStoreAgainstAPIServer runs the store against a real apiserver with the
// ControllerState CRD, so its schema (bounds, the one-part rule) is checked
// with every write.
func TestStoreAgainstAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	ctx := context.Background()
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dot-ai"}}))
	s := &state.Store{Namespace: "dot-ai", Reader: c, Writer: c}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	l := &state.Ledger{Store: s, Now: func() time.Time { return now }}

	hc, err := rest.HTTPClientFor(env.Config)
	require.NoError(t, err)
	answers := &putAnswers{RoundTripper: hc.Transport}
	hc.Transport = answers
	updater, err := state.NewUpdater(env.Config, testenv.Scheme(), hc)
	require.NoError(t, err)
	// The watcher's store updates with a PUT answered with metadata only;
	// the others with the typed client.
	for name, s := range map[string]*state.Store{"typed update": s, "metadata-only update": {Namespace: "dot-ai", Reader: c, Writer: c, Updater: updater}} {
		t.Run("checkpoint save, overwrite and load: "+name, func(t *testing.T) { checkpointRoundTrip(ctx, t, s, name, now) })
	}
	t.Run("a large checkpoint is not read back", func(t *testing.T) {
		s := &state.Store{Namespace: "dot-ai", Reader: c, Writer: c, Updater: updater}
		ref := v1alpha1.StatePolicyReference{Namespace: "team", Name: "p", UID: "uid-large"}
		cp := &v1alpha1.CheckpointState{Since: new(metav1.NewTime(now)), Handled: strings.Repeat("0a000000-0000-0000-0000-00000000000b 1 1700000000\n", 8000)}
		rv, err := s.SaveCheckpoint(ctx, ref, cp, "")
		require.NoError(t, err)
		answers.reset()
		_, err = s.SaveCheckpoint(ctx, ref, cp, rv)
		require.NoError(t, err)
		sizes := answers.sizes()
		require.Len(t, sizes, 1, "one PUT")
		assert.Less(t, sizes[0], 2048, "the answer to a PUT of a %d-byte checkpoint is its metadata", len(cp.Handled))
	})
	t.Run("no checkpoint", func(t *testing.T) {
		none, rv, err := s.LoadCheckpoint(ctx, "no-such-policy")
		require.NoError(t, err)
		assert.Nil(t, none)
		assert.Empty(t, rv)
	})

	t.Run("a newer format is refused, not misread", func(t *testing.T) {
		obj := &v1alpha1.ControllerState{
			ObjectMeta: metav1.ObjectMeta{Namespace: "dot-ai", Name: state.CheckpointName("uid-new")},
			Spec: v1alpha1.ControllerStateSpec{FormatVersion: v1alpha1.CurrentStateFormat + 1,
				Policy:     v1alpha1.StatePolicyReference{Namespace: "team", Name: "p"},
				Checkpoint: &v1alpha1.CheckpointState{Since: new(metav1.NewTime(now))}},
		}
		require.NoError(t, c.Create(ctx, obj))
		_, _, err := s.LoadCheckpoint(ctx, "uid-new")
		require.ErrorIs(t, err, state.ErrNewerFormat)
	})

	t.Run("the schema allows exactly one part", func(t *testing.T) {
		obj := &v1alpha1.ControllerState{
			ObjectMeta: metav1.ObjectMeta{Namespace: "dot-ai", Name: "two-parts"},
			Spec: v1alpha1.ControllerStateSpec{FormatVersion: 1, Policy: v1alpha1.StatePolicyReference{Namespace: "team", Name: "p"},
				Checkpoint: &v1alpha1.CheckpointState{Since: new(metav1.NewTime(now))}, Admission: &v1alpha1.AdmissionState{}},
		}
		assert.ErrorContains(t, c.Create(ctx, obj), "exactly one of checkpoint, intent, admission, notification and podOwners")
		noPolicy := &v1alpha1.ControllerState{
			ObjectMeta: metav1.ObjectMeta{Namespace: "dot-ai", Name: "no-policy"},
			Spec:       v1alpha1.ControllerStateSpec{FormatVersion: 1, Checkpoint: &v1alpha1.CheckpointState{Since: new(metav1.NewTime(now))}},
		}
		assert.ErrorContains(t, c.Create(ctx, noPolicy), "policy is required", "only podOwners belongs to no policy")
	})

	t.Run("pod owners save, overwrite and load", func(t *testing.T) {
		none, rv, err := s.LoadPodOwners(ctx)
		require.NoError(t, err)
		assert.Nil(t, none)
		in := &v1alpha1.PodOwnersState{Pods: "pod-1 apps/v1 Deployment web dep-1 1700000000 CrashLoopBackOff,Restarts\n"}
		rv, err = s.SavePodOwners(ctx, in, rv)
		require.NoError(t, err)
		_, err = s.SavePodOwners(ctx, in, rv)
		require.NoError(t, err)
		_, err = s.SavePodOwners(ctx, in, rv) // a stale resourceVersion: the only writer overwrites
		require.NoError(t, err)
		got, _, err := s.LoadPodOwners(ctx)
		require.NoError(t, err)
		assert.Equal(t, in, got)
	})

	t.Run("an intent is written once", func(t *testing.T) {
		ref := v1alpha1.StatePolicyReference{Namespace: "team", Name: "p", UID: "uid-in"}
		in := &v1alpha1.IntentState{OccurrenceKey: "uid-in/ev/1", IdempotencyKey: "abc",
			Event:     v1alpha1.IntentEvent{Namespace: "team", Name: "ev", UID: "ev", Count: 1, Time: new(metav1.NewTime(now))},
			CreatedAt: new(metav1.NewTime(now))}
		require.NoError(t, s.CreateIntent(ctx, ref, in))
		require.ErrorIs(t, s.CreateIntent(ctx, ref, in), state.ErrIntentExists, "a second process must not send it")
		list, err := s.Intents(ctx, "uid-in")
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, "uid-in/ev/1", list[0].OccurrenceKey)
		require.NoError(t, s.DeleteIntent(ctx, in.OccurrenceKey))
		require.NoError(t, s.DeleteIntent(ctx, in.OccurrenceKey), "deleting twice is fine")
		list, err = s.Intents(ctx, "uid-in")
		require.NoError(t, err)
		assert.Empty(t, list)
	})

	t.Run("notification intents through the journal", func(t *testing.T) {
		j := &notify.StateJournal{Store: s, Now: func() metav1.Time { return metav1.NewTime(now) }}
		r := notify.Record{ID: "0123456789abcdef0123456789abcdef", Policy: types.NamespacedName{Namespace: "team", Name: "p"},
			PolicyUID: "uid-n", Kind: "slack", Items: 12}
		require.NoError(t, j.Begin(ctx, r))
		require.Error(t, j.Begin(ctx, r), "a second intent of the same message means it may have been sent")
		recs, err := j.Pending(ctx)
		require.NoError(t, err)
		assert.Equal(t, []notify.Record{r}, recs)
		require.NoError(t, j.End(ctx, r.ID))
		require.NoError(t, j.End(ctx, r.ID), "ending twice is fine")
		recs, err = j.Pending(ctx)
		require.NoError(t, err)
		assert.Empty(t, recs)
		bad := r
		bad.Kind = "email"
		require.Error(t, j.Begin(ctx, bad), "the schema bounds the kind")
	})

	t.Run("admission ledger", func(t *testing.T) {
		p := policy("adm", "uid-a", "BackOff")
		ok, err := l.Admitted(ctx, p)
		require.NoError(t, err)
		assert.False(t, ok, "nothing recorded")
		require.NoError(t, l.Record(ctx, p))
		ok, err = l.Admitted(ctx, p)
		require.NoError(t, err)
		assert.True(t, ok)

		changed := policy("adm", "uid-a", "Failed")
		ok, err = l.Admitted(ctx, changed)
		require.NoError(t, err)
		assert.False(t, ok, "another spec")
		recreated := policy("adm", "uid-b", "BackOff")
		ok, err = l.Admitted(ctx, recreated)
		require.NoError(t, err)
		assert.False(t, ok, "the same spec of another policy with the same name")

		// Replicas record at once; the record keeps the newest specs.
		var wg sync.WaitGroup
		for _, r := range []string{"r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"} {
			wg.Go(func() { assert.NoError(t, l.Record(ctx, policy("adm", "uid-a", r))) })
		}
		wg.Wait()
		var obj v1alpha1.ControllerState
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "dot-ai", Name: state.AdmissionName("team", "adm")}, &obj))
		assert.Len(t, obj.Spec.Admission.Specs, state.MaxAdmittedSpecs)
		ok, err = l.Admitted(ctx, p)
		require.NoError(t, err)
		assert.False(t, ok, "the oldest spec fell off")
	})

	t.Run("state of deleted policies is removed", func(t *testing.T) {
		gone, kept := policy("gone", "uid-gone", "X"), policy("kept", "uid-kept", "X")
		for _, p := range []*v1alpha1.RemediationPolicy{gone, kept} {
			_, err := s.SaveCheckpoint(ctx, state.Ref(p), &v1alpha1.CheckpointState{Since: new(metav1.NewTime(now))}, "")
			require.NoError(t, err)
			require.NoError(t, l.Record(ctx, p))
		}
		require.NoError(t, s.CreateNotification(ctx, state.Ref(gone), &v1alpha1.NotificationIntentState{
			MessageID: "0123abcd", Kind: "slack", Items: 1, CreatedAt: new(metav1.NewTime(now)), FirstSeq: 1, LastSeq: 1}))
		_, err := s.SavePodOwners(ctx, &v1alpha1.PodOwnersState{}, "")
		require.NoError(t, err)
		live := func(uid types.UID) bool { return uid != "uid-gone" }
		count := func(uid types.UID) int {
			var list v1alpha1.ControllerStateList
			require.NoError(t, c.List(ctx, &list, client.InNamespace("dot-ai"), client.MatchingLabels{state.LabelPolicyUID: string(uid)}))
			return len(list.Items)
		}
		require.NoError(t, s.Garbage(ctx, live, now.Add(time.Minute)))
		assert.Equal(t, 1, count("uid-gone"), "a fresh admission record may belong to a policy being created (its checkpoint and notification intent go at once)")
		assert.Equal(t, 2, count("uid-kept"))
		require.NoError(t, s.Garbage(ctx, live, now.Add(time.Hour)))
		assert.Equal(t, 0, count("uid-gone"))
		assert.Equal(t, 2, count("uid-kept"))
		require.NoError(t, s.DeletePolicy(ctx, "uid-kept"))
		assert.Equal(t, 0, count("uid-kept"))
		owners, _, err := s.LoadPodOwners(ctx)
		require.NoError(t, err)
		assert.NotNil(t, owners, "the pod-owners record belongs to no policy and stays")
	})
}

// checkpointRoundTrip saves a policy's checkpoint, overwrites it (once with
// a stale resourceVersion), reads it back, and writes it again after it was
// deleted.
func checkpointRoundTrip(ctx context.Context, t *testing.T, s *state.Store, name string, now time.Time) {
	uid := types.UID("uid-cp-" + strings.ReplaceAll(name, " ", "-"))
	ref := v1alpha1.StatePolicyReference{Namespace: "team", Name: "p", UID: string(uid)}
	cp := &v1alpha1.CheckpointState{Since: new(metav1.NewTime(now)), Handled: "e1 1 1700000000\n",
		Counts: v1alpha1.OutcomeCounts{TotalEventsProcessed: 1, AnalysesCompleted: 1}}
	rv, err := s.SaveCheckpoint(ctx, ref, cp, "")
	require.NoError(t, err)
	cp.Counts.TotalEventsProcessed, cp.Counts.SkippedEvents = 2, 1
	cp.Handled = "" // a field emptied is emptied in the stored object too
	rv2, err := s.SaveCheckpoint(ctx, ref, cp, rv)
	require.NoError(t, err)
	assert.NotEqual(t, rv, rv2)
	cp.Cooldowns = "1700000000000 Pod/team/api-0\n"
	rv3, err := s.SaveCheckpoint(ctx, ref, cp, rv) // a stale resourceVersion: the only writer overwrites
	require.NoError(t, err)
	got, stored, err := s.LoadCheckpoint(ctx, uid)
	require.NoError(t, err)
	assert.Equal(t, rv3, stored, "the resourceVersion returned is the object's")
	assert.True(t, cp.Since.Equal(got.Since))
	got.Since = cp.Since // the same instant, in the local zone
	assert.Equal(t, cp, got)

	require.NoError(t, s.DeletePolicy(ctx, uid))
	rv4, err := s.SaveCheckpoint(ctx, ref, cp, rv3) // gone: created again
	require.NoError(t, err)
	_, stored, err = s.LoadCheckpoint(ctx, uid)
	require.NoError(t, err)
	assert.Equal(t, rv4, stored)
}

// putAnswers records the body sizes of the answers to PUT requests.
type putAnswers struct {
	http.RoundTripper
	mu   sync.Mutex
	seen []int
}

func (a *putAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.RoundTripper.RoundTrip(r)
	if err != nil || r.Method != http.MethodPut {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, len(body))
	return resp, nil
}

func (a *putAnswers) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = nil
}

func (a *putAnswers) sizes() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}
