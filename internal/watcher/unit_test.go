package watcher

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/celevent"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/policy/policytest"
)

func testSettings() *config.Settings { return policytest.Bare() }

func TestCooldownObject(t *testing.T) {
	ctrl := func(kind, name string) *metav1.OwnerReference {
		return &metav1.OwnerReference{Kind: kind, Name: name, Controller: new(true)}
	}
	cache := map[string]*metav1.OwnerReference{
		"Pod/ns/web-7d9f8b6c5d-abcde":  ctrl("ReplicaSet", "web-7d9f8b6c5d"),
		"ReplicaSet/ns/web-7d9f8b6c5d": ctrl("Deployment", "web"),
		"Pod/ns/backup-29000001-xyz12": ctrl("Job", "backup-29000001"),
		"Job/ns/backup-29000001":       ctrl("CronJob", "backup"),
		"Pod/ns/bare":                  nil,
		"Pod/ns/orphan-rs-pod":         ctrl("ReplicaSet", "manual-rs"),
		"ReplicaSet/ns/manual-rs":      nil,
		"Pod/ns/db-0":                  ctrl("StatefulSet", "db"),
	}
	owners := func(kind, ns, name string) (*metav1.OwnerReference, bool) {
		o, ok := cache[kind+"/"+ns+"/"+name]
		return o, ok
	}
	tests := map[string]struct {
		kind, name string
		owners     OwnerLookup
		want       string
	}{
		"deployment pod via cache":        {"Pod", "web-7d9f8b6c5d-abcde", owners, "Deployment/ns/web"},
		"cronjob pod via cache":           {"Pod", "backup-29000001-xyz12", owners, "CronJob/ns/backup"},
		"bare pod keyed by itself":        {"Pod", "bare", owners, "Pod/ns/bare"},
		"orphan replicaset":               {"Pod", "orphan-rs-pod", owners, "ReplicaSet/ns/manual-rs"},
		"statefulset pod keyed by itself": {"Pod", "db-0", owners, "Pod/ns/db-0"},
		"job event via cache":             {"Job", "backup-29000001", owners, "CronJob/ns/backup"},
		"deleted cronjob pod by name":     {"Pod", "backup-29000002-qwert", owners, "CronJob/ns/backup"},
		"deleted deployment pod by name":  {"Pod", "api-5f6c7d8b9-zzzzz", nil, "Deployment/ns/api"},
		"deleted job by name":             {"Job", "nightly-29000003", nil, "CronJob/ns/nightly"},
		"replicaset by name":              {"ReplicaSet", "api-5f6c7d8b9", nil, "Deployment/ns/api"},
		"other kinds keyed by themselves": {"Node", "n1", owners, "Node/ns/n1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := cooldownObject(corev1.ObjectReference{Kind: tc.kind, Name: tc.name}, "ns", tc.owners)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestTokenBucket(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	var b tokenBucket
	for i := range 3 {
		assert.True(t, b.take(clk.Now(), 3), "take %d", i)
	}
	assert.False(t, b.take(clk.Now(), 3), "burst exhausted")
	clk.Step(20 * time.Second) // one token per 20 s at 3/min
	assert.True(t, b.take(clk.Now(), 3))
	assert.False(t, b.take(clk.Now(), 3))
	b.refund(3)
	assert.True(t, b.take(clk.Now(), 3), "refunded token")
	clk.Step(time.Hour)
	for range 3 {
		assert.True(t, b.take(clk.Now(), 3))
	}
	assert.False(t, b.take(clk.Now(), 3), "capacity caps the refill")
}

func TestCooldowns(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	c := cooldowns{}
	k := cooldownKey("Deployment/ns/web", "BackOff")
	assert.False(t, c.active(k, clk.Now()))
	c.start(k, clk.Now(), 5*time.Minute)
	assert.True(t, c.active(k, clk.Now()))
	clk.Step(4*time.Minute + 59*time.Second)
	assert.True(t, c.active(k, clk.Now()))
	assert.False(t, c.active(cooldownKey("Deployment/ns/web", "Failed"), clk.Now()), "other reason")
	clk.Step(time.Second)
	assert.False(t, c.active(k, clk.Now()))
	c.start("zero", clk.Now(), 0)
	assert.False(t, c.active("zero", clk.Now()), "0 disables the cooldown")
	c.start("a", clk.Now(), time.Minute)
	c.start("b", clk.Now(), 2*time.Minute)
	c.prune(clk.Now(), 1)
	assert.Equal(t, []string{hashCooldownKey("b")}, keysOf(c), "stored by the hash of the key")
}

func keysOf(c cooldowns) []string {
	var out []string
	for k := range c {
		out = append(out, k)
	}
	return out
}

func TestDedupCheckpoint(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := newCheckpoint(t0)
	assert.False(t, c.isHandled("e1", 1, t0))
	c.markHandled("e1", 1, t0)
	assert.True(t, c.isHandled("e1", 1, t0), "same occurrence")
	assert.False(t, c.isHandled("e1", 2, t0.Add(time.Minute)), "count bumped: new occurrence")
	c.markHandled("e1", 3, t0.Add(time.Minute))
	assert.True(t, c.isHandled("e1", 2, t0), "older count after a newer one")
	c.Cooldowns.start("k", t0, time.Hour)
	c.Bucket.take(t0, 10)
	c.Suspended = true

	round := checkpointFromState(c.state())
	assert.True(t, round.isHandled("e1", 3, t0))
	assert.False(t, round.isHandled("e1", 4, t0))
	assert.True(t, round.Cooldowns.active("k", t0.Add(time.Minute)))
	assert.InDelta(t, 9, round.Bucket.Tokens, 0.001)
	assert.True(t, round.Suspended)
	assert.True(t, round.Since.Equal(t0))

	// Pruning: gone events are dropped; above the bound the oldest go and
	// the watermark covers them.
	c.prune(t0, newEventSet())
	assert.Zero(t, c.Handled.len())
	for i := range maxHandledEntries + 10 {
		c.markHandled(types.UID("u"+string(rune('a'+i%26))+time.Duration(i).String()), 1, t0.Add(time.Duration(i)*time.Second))
	}
	c.prune(t0, nil)
	assert.Equal(t, maxHandledEntries, c.Handled.len())
	assert.True(t, c.Watermark.Equal(t0.Add(9*time.Second)))
	assert.True(t, c.isHandled("never-seen", 1, t0.Add(5*time.Second)), "below the watermark")
	assert.False(t, c.isHandled("never-seen", 1, t0.Add(time.Hour)))
}

func TestOccurrence(t *testing.T) {
	ev := policytest.Event("a", "Warning", "BackOff", "Pod", "p", "")
	assert.Equal(t, int32(1), occurrenceCount(ev))
	ev.Count = 4
	assert.Equal(t, int32(4), occurrenceCount(ev))
	ev.Series = &corev1.EventSeries{Count: 7}
	assert.Equal(t, int32(7), occurrenceCount(ev))
	assert.Equal(t, "pu/eu/7", occurrenceKey("pu", "eu", 7))
}

func TestReadyCondition(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tests := map[string]struct {
		ps     *policyState
		reason string
	}{
		"active":     {&policyState{}, v1alpha1.ReasonActive},
		"invalid":    {&policyState{invalid: "bad", suspended: true}, v1alpha1.ReasonInvalidSpec},
		"suspended":  {&policyState{suspended: true}, v1alpha1.ReasonSuspended},
		"queue full": {&policyState{lastDrop: now.Add(-time.Second), condReason: v1alpha1.ReasonMCPUnreachable}, v1alpha1.ReasonQueueFull},
		"old drop":   {&policyState{lastDrop: now.Add(-time.Hour)}, v1alpha1.ReasonActive},
		"mcp":        {&policyState{condReason: v1alpha1.ReasonMCPUnauthorized}, v1alpha1.ReasonMCPUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := tc.ps.readyCondition(now, 4*time.Second)
			assert.Equal(t, tc.reason, c.Reason)
			assert.Equal(t, tc.reason == v1alpha1.ReasonActive, c.Status == metav1.ConditionTrue)
		})
	}
}

func TestTransform(t *testing.T) {
	ev := policytest.Event("a", "Warning", "BackOff", "Pod", "p", string(make([]byte, 5000)))
	ev.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "x"}}
	got := reduceEvent(ev.DeepCopy())
	assert.Nil(t, got.ManagedFields)
	assert.Len(t, got.Message, maxMessageBytes)
	out, err := transform(ev)
	require.NoError(t, err)
	assert.Same(t, ev, out, "Events are not cached, so not transformed")

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "a", Labels: map[string]string{"x": "y"}}}
	pod.Spec.Containers = []corev1.Container{{Name: "c", Image: "i"}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", Image: "i", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "long"}}}}
	out, err = transform(pod)
	require.NoError(t, err)
	gp := out.(*policy.PodSummary)
	assert.Equal(t, []policy.ContainerSummary{{WaitingReason: "CrashLoopBackOff"}}, gp.Containers)
}

// TestTransformMetadata: Pods and objects as the metadata informer delivers
// them (no kind or apiVersion) keep name, namespace, UID, labels, owner
// references and annotations short enough to select on; managed fields,
// kubectl's last-applied copy, long annotations and the rest go.
func TestTransformMetadata(t *testing.T) {
	yes := true
	long := strings.Repeat("x", celevent.MaxAnnotationValue+1)
	full := metav1.ObjectMeta{Name: "x", Namespace: "a", UID: "u", ResourceVersion: "7", GenerateName: "x-",
		Labels:          map[string]string{"team": "a"},
		Annotations:     map[string]string{v1alpha1.IgnoreAnnotation: "true", "long": long, lastApplied: "{}", "short": "v"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x-1", UID: "rs", Controller: &yes}},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "x"}}, Finalizers: []string{"f"}}
	want := metav1.ObjectMeta{Name: "x", Namespace: "a", UID: "u", ResourceVersion: "7",
		Labels:          map[string]string{"team": "a"},
		Annotations:     map[string]string{v1alpha1.IgnoreAnnotation: "true", "short": "v"},
		OwnerReferences: full.OwnerReferences}
	nsWant := *want.DeepCopy()
	nsWant.Namespace = ""
	nsFull := *full.DeepCopy()
	nsFull.Namespace = ""
	onlyLong := metav1.ObjectMeta{Name: "y", Namespace: "a", Annotations: map[string]string{"long": long}}
	tests := map[string]struct {
		in   any
		want metav1.ObjectMeta
	}{
		"pod":                   {in: &corev1.Pod{ObjectMeta: *full.DeepCopy()}, want: want},
		"namespaced metadata":   {in: &metav1.PartialObjectMetadata{ObjectMeta: *full.DeepCopy()}, want: want},
		"namespace":             {in: &metav1.PartialObjectMetadata{ObjectMeta: nsFull}, want: nsWant},
		"only long annotations": {in: &metav1.PartialObjectMetadata{ObjectMeta: onlyLong}, want: metav1.ObjectMeta{Name: "y", Namespace: "a"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := transform(tc.in)
			require.NoError(t, err)
			switch o := out.(type) {
			case *policy.PodSummary:
				assert.Equal(t, tc.want, o.ObjectMeta)
			case *metav1.PartialObjectMetadata:
				assert.Equal(t, tc.want, o.ObjectMeta)
			default:
				t.Fatalf("unexpected %T", out)
			}
		})
	}
}
