package enricher

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// liveHeap is the heap still in use after a full collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// The objects are kept as protobuf, and cost the heap less than half of
// what the same Pods decoded (as the clientset hands them over) do: 1,500
// typical Pods, the figures in docs/benchmarks.md. versionedBytes keeps
// more of them than the storm's 1,000 Pods, as many as before.
func TestVersionedObjectsLiveHeap(t *testing.T) {
	const n = 1500
	wire := make([][]byte, n)
	total := 0
	for i := range wire {
		b, err := typicalPod(i).Marshal()
		require.NoError(t, err)
		wire[i], total = b, total+len(b)
	}

	base := liveHeap()
	pods := make([]*corev1.Pod, n)
	for i, b := range wire {
		pods[i] = &corev1.Pod{}
		require.NoError(t, pods[i].Unmarshal(b))
	}
	decoded := liveHeap() - base
	v := newVersionedObjects(1 << 30)
	for i, p := range pods {
		v.put(fmt.Sprintf("Pod/team-a/%d", i), p)
	}
	pods = nil
	kept := liveHeap() - base
	runtime.KeepAlive(pods)
	runtime.KeepAlive(v)
	assert.Equal(t, n, len(v.entries), "all kept")
	t.Logf("%d Pods: %d bytes of protobuf (%d each); live heap decoded %d, kept as protobuf %d",
		n, total, total/n, decoded, kept)
	assert.Less(t, kept, decoded/2, "kept as protobuf, the Pods cost less than half of their decoded size")

	bounded := newVersionedObjects(versionedBytes)
	for i, b := range wire {
		p := &corev1.Pod{}
		require.NoError(t, p.Unmarshal(b))
		bounded.put(fmt.Sprintf("Pod/team-a/%d", i), p)
	}
	before := (8 << 20) / (2 * (total / n)) // the bound was 8 MiB at twice the protobuf size
	t.Logf("versionedBytes keeps %d of them (%d before)", len(bounded.entries), before)
	assert.GreaterOrEqual(t, len(bounded.entries), before, "as many kept as before")
	assert.Greater(t, len(bounded.entries), 1000, "more than the storm's Pods")
}

// A hit costs a decode of the object: about what a GET's decode costs the
// clientset, without the request.
func BenchmarkVersionedObjectsGet(b *testing.B) {
	v := newVersionedObjects(versionedBytes)
	v.put("Pod/team-a/api", typicalPod(0))
	rv := typicalPod(0).ResourceVersion
	for b.Loop() {
		if _, ok := v.get("Pod/team-a/api", rv); !ok {
			b.Fatal("not kept")
		}
	}
}
