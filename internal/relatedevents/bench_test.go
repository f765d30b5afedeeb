package relatedevents

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// BenchmarkIndexLiveBytes: the live heap of a full index (100,000 Events
// decoded from JSON, as from the apiserver, 5 per Pod, fed at the default
// budget) against its accounted bytes (docs/design/related-events.md).
func BenchmarkIndexLiveBytes(b *testing.B) {
	const n = 100000
	now := metav1.Now()
	raws := make([][]byte, n)
	for i := range n {
		pod := fmt.Sprintf("web-%05d", i/5)
		raws[i], _ = json.Marshal(&corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod, 0x187a3b2c4d000000+i), Namespace: "storm",
				UID: types.UID(fmt.Sprintf("0a1b2c3d-aaaa-bbbb-cccc-%012d", i)), ResourceVersion: fmt.Sprint(100000 + i), CreationTimestamp: now},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "storm", Name: pod},
			Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container app in pod " + pod,
			FirstTimestamp: now, LastTimestamp: now, Count: 1, Source: corev1.EventSource{Component: "kubelet", Host: "node-1"},
		})
	}
	var live, inuse, accounted, held float64
	for b.Loop() {
		x := New(Options{Fallback: &fallback{}})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, raw := range raws {
			var ev corev1.Event
			require.NoError(b, json.Unmarshal(raw, &ev))
			x.Observe(watch.Added, &ev)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		live = float64(after.HeapAlloc) - float64(before.HeapAlloc)
		inuse = float64(after.HeapInuse) - float64(before.HeapInuse)
		accounted, held = float64(x.bytes), float64(x.count)
		runtime.KeepAlive(x)
	}
	b.ReportMetric(live/(1<<20), "live-MiB")
	b.ReportMetric(inuse/(1<<20), "in-use-spans-MiB")
	b.ReportMetric(accounted/(1<<20), "accounted-MiB")
	b.ReportMetric(held, "events-held")
}
