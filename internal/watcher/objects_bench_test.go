package watcher

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// BenchmarkObjectCacheLiveBytes: live heap per cached Pod and per
// metadata-only workload object (docs/benchmarks.md), decoded from JSON as
// from the apiserver and transformed as the informers do, for objects
// without labels or annotations ("bare") and with a Helm-installed
// workload's (7 labels, 3 short annotations and kubectl's last-applied
// copy, which is dropped). "bare" is also what every object cost before
// labels and annotations were kept.
func BenchmarkObjectCacheLiveBytes(b *testing.B) {
	const n = 20000
	labels := map[string]string{
		"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod", "app.kubernetes.io/version": "1.4.2",
		"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "web-1.4.2", "team": "payments", "pod-template-hash": "5f6c7d8b9",
	}
	annotations := map[string]string{
		"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "example.com/oncall": "payments-primary",
		lastApplied: `{"apiVersion":"apps/v1","kind":"Deployment",` + strings.Repeat(`"x":"y",`, 200) + `}`,
	}
	now := metav1.Now()
	meta := func(i int, withMeta bool) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Name: fmt.Sprintf("web-5f6c7d8b9-%05d", i), Namespace: "shop",
			UID: types.UID(fmt.Sprintf("1a1b2c3d-aaaa-bbbb-cccc-%012d", i)), ResourceVersion: fmt.Sprint(100000 + i), CreationTimestamp: now,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5f6c7d8b9",
				UID: "2a1b2c3d-aaaa-bbbb-cccc-000000000001", Controller: new(true), BlockOwnerDeletion: new(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: "Update", APIVersion: "v1", Time: &now,
				FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{}}}`)}}}
		if withMeta {
			m.Labels, m.Annotations = labels, annotations
		}
		return m
	}
	for _, shape := range []struct {
		name   string
		pod    bool
		labels bool
	}{{"pod-bare", true, false}, {"pod-labelled", true, true}, {"metadata-bare", false, false}, {"metadata-labelled", false, true}} {
		b.Run(shape.name, func(b *testing.B) {
			raws := make([][]byte, n)
			for i := range n {
				var obj any = &metav1.PartialObjectMetadata{ObjectMeta: meta(i, shape.labels)}
				if shape.pod {
					p := &corev1.Pod{ObjectMeta: meta(i, shape.labels)}
					p.Spec.Containers = []corev1.Container{{Name: "web", Image: "registry.example.com/web:1.4.2"}}
					p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", RestartCount: 3,
						State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s"}}}}
					obj = p
				}
				raws[i], _ = json.Marshal(obj)
			}
			var perObject float64
			for b.Loop() {
				store := toolscache.NewStore(toolscache.DeletionHandlingMetaNamespaceKeyFunc)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for _, raw := range raws {
					var in any = &metav1.PartialObjectMetadata{}
					if shape.pod {
						in = &corev1.Pod{}
					}
					require.NoError(b, json.Unmarshal(raw, in))
					obj, err := transform(in)
					require.NoError(b, err)
					require.NoError(b, store.Add(obj))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perObject = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				runtime.KeepAlive(store)
			}
			b.ReportMetric(perObject, "live-B/object")
		})
	}
}
