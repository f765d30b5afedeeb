package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
)

func TestNewPodSummary(t *testing.T) {
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "long"}}
	}
	terminated := func(reason string, code int32) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, Message: "long"}}
	}
	tests := map[string]struct {
		status corev1.PodStatus
		want   []ContainerSummary
	}{
		"no statuses": {},
		"running":     {status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, want: []ContainerSummary{{}}},
		"crash loop": {status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "c", RestartCount: 3, State: waiting("CrashLoopBackOff"), LastTerminationState: terminated("Error", 1)}}},
			want: []ContainerSummary{{WaitingReason: "CrashLoopBackOff", LastTerminated: &Termination{Reason: "Error", ExitCode: 1}, RestartCount: 3}}},
		"init containers first": {status: corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", State: terminated("Completed", 0)}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "c", State: waiting("PodInitializing")}}},
			want: []ContainerSummary{{Terminated: &Termination{Reason: "Completed"}}, {WaitingReason: "PodInitializing"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			meta := metav1.ObjectMeta{Namespace: "app", Name: "web-1", UID: "u"}
			p := NewPodSummary(meta, &tc.status)
			assert.Equal(t, meta, p.ObjectMeta)
			assert.Equal(t, tc.want, p.Containers)
		})
	}
}

// The informer's store keys and indexes a summary by namespace, and a deep
// copy shares nothing with the original.
func TestPodSummaryObject(t *testing.T) {
	var _ metav1.Object = &PodSummary{}
	p := NewPodSummary(metav1.ObjectMeta{Namespace: "app", Name: "web-1", Labels: map[string]string{"a": "b"}},
		&corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 1,
			State:                corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}})
	idx := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	require.NoError(t, idx.Add(p))
	got, ok, err := idx.GetByKey("app/web-1")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Same(t, p, got)
	inNS, err := idx.ByIndex(toolscache.NamespaceIndex, "app")
	require.NoError(t, err)
	assert.Equal(t, []any{p}, inNS)
	assert.True(t, p.GetObjectKind().GroupVersionKind().Empty())

	var obj runtime.Object = p
	c := obj.DeepCopyObject().(*PodSummary)
	assert.Equal(t, p, c)
	c.Labels["a"] = "changed"
	c.Containers[0].Terminated.Reason = "changed"
	c.Containers[0].LastTerminated.ExitCode = 2
	assert.Equal(t, "b", p.Labels["a"])
	assert.Equal(t, "Error", p.Containers[0].Terminated.Reason)
	assert.Equal(t, int32(137), p.Containers[0].LastTerminated.ExitCode)
}
