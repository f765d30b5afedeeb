package watcher

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/state"
	"dot-ai.io/controller/internal/testenv"
)

func crashing(restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "c", Image: "busybox", RestartCount: restarts,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}}
}

func runningStatus() corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "c", Image: "busybox", Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}
}

func TestPodProblems(t *testing.T) {
	tests := map[string]struct {
		statuses []corev1.ContainerStatus
		want     []string
	}{
		"healthy":        {[]corev1.ContainerStatus{runningStatus()}, nil},
		"starting":       {[]corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}, nil},
		"crash loop":     {[]corev1.ContainerStatus{crashing(3)}, []string{"CrashLoopBackOff", "Error", "Restarts"}},
		"image pull":     {[]corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}, []string{"ImagePullBackOff"}},
		"completed":      {[]corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}, nil},
		"oom, restarted": {[]corev1.ContainerStatus{{Name: "c", RestartCount: 1, LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}, []string{"OOMKilled", "Restarts"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, podProblems(policy.NewPodSummary(metav1.ObjectMeta{}, &corev1.PodStatus{ContainerStatuses: tc.statuses})))
		})
	}
}

// TestPodOwnersByteBudget fills the record to its cap with the longest
// entries it keeps and checks the schema's bound (docs/design/state.md).
func TestPodOwnersByteBudget(t *testing.T) {
	t0 := time.Unix(9_999_999_999, 0)
	pods := map[types.UID]*podOwner{}
	for i := range maxPodOwners + 50 {
		pods[types.UID(fmt.Sprintf("%08x-0000-0000-0000-%012x", i, i))] = &podOwner{
			APIVersion: strings.Repeat("g", maxOwnerTypeLength-20) + "/v1", Kind: strings.Repeat("K", 17),
			Name: strings.Repeat("n", 253), UID: "00000000-0000-0000-0000-000000000000", Seen: t0.Add(time.Duration(i) * time.Second),
			Problems: []string{strings.Repeat("a", maxProblemLength), strings.Repeat("b", maxProblemLength), strings.Repeat("c", maxProblemLength)},
		}
	}
	prunePodOwners(pods, t0.Add(time.Hour))
	require.Len(t, pods, maxPodOwners)
	data := encodePodOwners(pods)
	t.Logf("pod owners at the cap: %d bytes (%d an entry)", len(data), len(data)/maxPodOwners)
	assert.LessOrEqual(t, len(data), 400000)
	assert.Len(t, decodePodOwners(data), maxPodOwners, "what is saved is read back")
}

// TestOwnerOfDeletedPod: an Event of a Pod deleted while the controller was
// down is delivered with the Pod's owner as the object of interest when
// the owner's current Pods still show its problem, and skipped when a
// rollout fixed it or the owner is gone too.
func TestOwnerOfDeletedPod(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	ctx := context.Background()
	createNamespace(t, c, "dot-ai", nil)
	type workload struct {
		deploy *appsv1.Deployment
		rs     *appsv1.ReplicaSet
		pod    *corev1.Pod
		policy *v1alpha1.RemediationPolicy
	}
	ctrlRef := func(apiVersion, kind string, o client.Object) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: o.GetName(), UID: o.GetUID(), Controller: new(true)}}
	}
	createPodOf := func(ns, name string, rs *appsv1.ReplicaSet, st corev1.ContainerStatus) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"},
			OwnerReferences: ctrlRef("apps/v1", "ReplicaSet", rs)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		require.NoError(t, c.Create(ctx, p))
		p.Status.ContainerStatuses = []corev1.ContainerStatus{st}
		require.NoError(t, c.Status().Update(ctx, p))
		return p
	}
	createRS := func(ns, name string, d *appsv1.Deployment) *appsv1.ReplicaSet {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: ctrlRef("apps/v1", "Deployment", d)},
			Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
		require.NoError(t, c.Create(ctx, rs))
		return rs
	}
	setup := func(ns string) *workload {
		createNamespace(t, c, ns, nil)
		labels := map[string]string{"app": "web"}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
		require.NoError(t, c.Create(ctx, d))
		rs := createRS(ns, "web-1", d)
		p := newPolicy(ns, "p", v1alpha1.EventSelector{Type: "Warning"})
		require.NoError(t, c.Create(ctx, p))
		return &workload{deploy: d, rs: rs, pod: createPodOf(ns, "web-1-a", rs, crashing(3)), policy: p}
	}
	still, fixed, gone := setup("owner-still"), setup("owner-fixed"), setup("owner-gone")

	// The first controller sees the crash-looping Pods and records their
	// owners.
	s := testSettings()
	first := startWatcher(t, env.Config, s, &recorder{}, nil)
	t.Cleanup(func() { first.stop(t) }) // before envtest stops; once only
	store := &state.Store{Namespace: "dot-ai", Reader: c, Writer: c}
	require.Eventually(t, func() bool {
		rec, _, err := store.LoadPodOwners(ctx)
		if err != nil || rec == nil {
			return false
		}
		for _, w := range []*workload{still, fixed, gone} {
			if !strings.Contains(rec.Pods, string(w.pod.UID)+" apps/v1 Deployment web "+string(w.deploy.UID)) {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "the owners of the crash-looping Pods are saved")
	first.stop(t)

	// While it is down: a BackOff Event, then the Pod is deleted; the
	// owner's Pods still crash, or a rollout fixed them, or the owner is gone.
	for _, w := range []*workload{still, fixed, gone} {
		createEvent(t, c, w.pod.Namespace, "backoff", "Warning", "BackOff", "Pod", w.pod.Name, func(ev *corev1.Event) {
			ev.InvolvedObject.UID = w.pod.UID
			ev.Message = "Back-off restarting failed container c"
		})
		require.NoError(t, c.Delete(ctx, w.pod))
	}
	createPodOf(still.pod.Namespace, "web-1-b", still.rs, crashing(1))
	createPodOf(fixed.pod.Namespace, "web-2-a", createRS(fixed.pod.Namespace, "web-2", fixed.deploy), runningStatus())
	require.NoError(t, c.Delete(ctx, gone.rs))
	require.NoError(t, c.Delete(ctx, gone.deploy))

	rec := &recorder{}
	second := startWatcher(t, env.Config, s, rec, nil)
	t.Cleanup(func() { second.stop(t) })
	status := func(p *v1alpha1.RemediationPolicy) v1alpha1.RemediationPolicyStatus {
		var cur v1alpha1.RemediationPolicy
		require.Eventually(t, func() bool {
			return c.Get(ctx, client.ObjectKeyFromObject(p), &cur) == nil && cur.Status.TotalEventsProcessed == 1
		}, 30*time.Second, 50*time.Millisecond, "%s: the Event has its outcome", p.Namespace)
		return cur.Status
	}
	st := status(still.policy)
	assert.Equal(t, int64(1), st.AnalysesCompleted, "owner still crashing: delivered")
	reqs := rec.requests()
	require.Len(t, reqs, 1, "only the Event whose owner still shows the problem is delivered")
	ev := reqs[0].Event
	assert.Equal(t, "owner-still", ev.Namespace)
	assert.Equal(t, corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "owner-still", Name: "web", UID: still.deploy.UID},
		ev.InvolvedObject, "the owner is the object of interest")
	assert.Contains(t, ev.Message, "Pod web-1-a was deleted; Deployment web's current Pod web-1-b shows the same problem")
	assert.Equal(t, "Deployment/web", st.RecentOutcomes[0].InvolvedObject)

	assert.Equal(t, int64(1), status(fixed.policy).SkippedEvents, "a rollout fixed it: skipped")
	assert.Equal(t, int64(1), status(gone.policy).SkippedEvents, "owner gone: skipped")
	assert.Len(t, rec.requests(), 1)
}
