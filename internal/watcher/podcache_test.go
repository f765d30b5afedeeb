package watcher

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// typicalPodJSON is a Deployment's running Pod as the apiserver sends it:
// two containers, one restarted once, five labels, owned by a ReplicaSet.
func typicalPodJSON(t testing.TB, i int) []byte {
	now := metav1.Now()
	yes := true
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-5f6c7d8b9-%05d", i), Namespace: "shop",
		UID: types.UID(fmt.Sprintf("1a1b2c3d-aaaa-bbbb-cccc-%012d", i)), ResourceVersion: fmt.Sprint(100000 + i),
		GenerateName: "web-5f6c7d8b9-", CreationTimestamp: now,
		Labels: map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod",
			"app.kubernetes.io/component": "api", "team": "payments", "pod-template-hash": "5f6c7d8b9"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5f6c7d8b9",
			UID: "2a1b2c3d-aaaa-bbbb-cccc-000000000001", Controller: &yes, BlockOwnerDeletion: &yes}},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: "Update", APIVersion: "v1", Time: &now,
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{}}}`)}}}}
	for _, name := range []string{"web", "proxy"} {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: name, Image: "registry.example.com/" + name + ":1.4.2",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: name, Ready: true,
			Image: "registry.example.com/" + name + ":1.4.2", ImageID: "registry.example.com/" + name + "@sha256:0123456789abcdef",
			ContainerID: fmt.Sprintf("containerd://%064d", i), Started: &yes,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}})
	}
	p.Status.ContainerStatuses[0].RestartCount = 1
	p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 137,
		Reason: "OOMKilled", StartedAt: now, FinishedAt: now, ContainerID: fmt.Sprintf("containerd://%064d", i+1)}
	p.Status.Phase, p.Status.PodIP, p.Status.HostIP = corev1.PodRunning, "127.0.2.10", "127.0.0.1" // the local cluster's ranges; never dialled
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	return raw
}

// liveBytes is what build's result holds: garbage from before is collected
// with it kept, so only the result goes after.
func liveBytes(build func() any) int64 {
	var with, without runtime.MemStats
	keep := build()
	runtime.GC()
	runtime.ReadMemStats(&with)
	runtime.KeepAlive(keep) // kept up to here, unreachable from here on
	runtime.GC()
	runtime.ReadMemStats(&without)
	return int64(with.HeapAlloc) - int64(without.HeapAlloc)
}

// TestPodCacheLiveBytes bounds what the Pod cache holds per typical Pod
// (docs/benchmarks.md): decoded, transformed and indexed by namespace as the
// Pod informer does.
func TestPodCacheLiveBytes(t *testing.T) {
	const n = 2000
	raws := make([][]byte, n)
	for i := range raws {
		raws[i] = typicalPodJSON(t, i)
	}
	liveBytes(func() any { return make([]byte, 1<<20) }) // the first measurement also frees the runtime's own first garbage
	cur := liveBytes(func() any {
		idx := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
		for _, raw := range raws {
			p := &corev1.Pod{}
			require.NoError(t, json.Unmarshal(raw, p))
			obj, err := transform(p)
			require.NoError(t, err)
			require.NoError(t, idx.Add(obj))
		}
		return idx
	})
	t.Logf("%d Pods: %d bytes cached (%d a Pod)", n, cur, cur/n)
	require.Positive(t, cur)
	// Measured 1,154 bytes a Pod; 2,618 when the cache held a reduced
	// corev1.Pod (1,240 bytes, and 208 a container status).
	require.Less(t, cur/n, int64(1500))
}
