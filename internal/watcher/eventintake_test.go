package watcher

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	toolscache "k8s.io/client-go/tools/cache"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/testenv"
)

func TestEventSet(t *testing.T) {
	stub := func(uid string) *eventStub { return newEventStub(uid, "1") }
	type op struct {
		kind string // add, update, delete, relist, replace
		uids []string
	}
	tests := []struct {
		name    string
		ops     []op
		present []string
		absent  []string
		synced  bool
	}{
		{"adds and updates are known", []op{{"add", []string{"a", "b"}}, {"update", []string{"c"}}}, []string{"a", "b", "c"}, nil, false},
		{"a delete forgets", []op{{"add", []string{"a", "b"}}, {"delete", []string{"a", "x"}}}, []string{"b"}, []string{"a", "x"}, false},
		{"a replace drops what the relist did not see and ends the start-up",
			[]op{{"add", []string{"a", "b"}}, {"relist", nil}, {"replace", []string{"b", "c"}}}, []string{"b", "c"}, []string{"a"}, true},
		{"an Event seen after the list's end but before its replace stays",
			[]op{{"add", []string{"a"}}, {"relist", nil}, {"add", []string{"new"}}, {"replace", []string{"b"}}}, []string{"b", "new"}, []string{"a"}, true},
		{"non-UUID UIDs too", []op{{"add", []string{"x", "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"}}, {"relist", nil}, {"replace", []string{"y"}}},
			[]string{"y"}, []string{"x", "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"}, true},
		{"adds after the replace", []op{{"relist", nil}, {"replace", nil}, {"add", []string{"d", "0A1B2C3D-AAAA-BBBB-CCCC-0123456789AB"}}},
			[]string{"d", "0A1B2C3D-AAAA-BBBB-CCCC-0123456789AB"}, []string{"0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newEventSet()
			for _, o := range tc.ops {
				var list []any
				for _, uid := range o.uids {
					switch o.kind {
					case "add":
						require.NoError(t, x.Add(stub(uid)))
					case "update":
						require.NoError(t, x.Update(stub(uid)))
					case "delete":
						require.NoError(t, x.Delete(stub(uid)))
					}
					list = append(list, stub(uid))
				}
				if o.kind == "relist" {
					x.relist()
				}
				if o.kind == "replace" {
					require.NoError(t, x.Replace(list, "9"))
				}
			}
			for _, uid := range tc.present {
				assert.True(t, x.has(types.UID(uid)), uid)
			}
			for _, uid := range tc.absent {
				assert.False(t, x.has(types.UID(uid)), uid)
			}
			assert.Equal(t, len(tc.present), x.len())
			assert.Equal(t, tc.synced, x.isSynced())
		})
	}
}

// TestEventStubForTheReflector: the reflector's stores key the stub by its
// UID and read its resourceVersion.
func TestEventStubForTheReflector(t *testing.T) {
	s := newEventStub("u1", "42")
	key, err := toolscache.DeletionHandlingMetaNamespaceKeyFunc(s)
	require.NoError(t, err)
	assert.Equal(t, "u1", key)
	acc, err := meta.Accessor(s)
	require.NoError(t, err)
	assert.Equal(t, "42", acc.GetResourceVersion())
	assert.Empty(t, acc.GetAnnotations(), "bookmark checks read no annotations off a stub")
	assert.Equal(t, s, s.DeepCopyObject())
	assert.Equal(t, types.UID("u1"), acc.GetUID())
	assert.Equal(t, "u1", s.uid())

	// A resourceVersion is optional; the UID alone is the whole name.
	bare := newEventStub("0a1b2c3d-aaaa-bbbb-cccc-0123456789ab", "")
	assert.Equal(t, "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab", bare.GetName())
	assert.Empty(t, bare.GetResourceVersion())
}

// TestOnListBracketsEachList: the binary's OnList hears when a list of the
// cluster's Events starts and when its Events were all processed, at
// start-up and at every relist.
func TestOnListBracketsEachList(t *testing.T) {
	var heard []bool
	w := &Watcher{eventSet: newEventSet(), opts: Options{OnList: func(listing bool) { heard = append(heard, listing) }}}
	w.eventSet.replaced = w.listEnded
	for range 2 {
		w.relist()
		require.NoError(t, w.eventSet.Replace(nil, "1"))
	}
	assert.Equal(t, []bool{true, false, true, false}, heard)
}

// TestEventListIsProcessedAsItArrives: when the reflector falls back to a
// list, every listed Event goes through the intake and the reflector gets
// stubs only.
func TestEventListIsProcessedAsItArrives(t *testing.T) {
	kube := fake.NewClientset(
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "e1", UID: "u1"}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "e2", UID: "u2"}},
	)
	var taken []string
	lw := eventListWatch(kube, func(*metav1.ListOptions) {}, &watchActivity{now: time.Now}, func(t watch.EventType, ev *corev1.Event) *eventStub {
		taken = append(taken, string(t)+" "+ev.Name)
		return newEventStub(string(ev.UID), "")
	}, func() {})
	obj, err := lw.ListWithContext(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	list, ok := obj.(*metav1.List)
	require.True(t, ok, "%T", obj)
	var uids []string
	for _, it := range list.Items {
		s, ok := it.Object.(*eventStub)
		require.True(t, ok, "%T", it.Object)
		uids = append(uids, s.uid())
	}
	assert.ElementsMatch(t, []string{"u1", "u2"}, uids)
	assert.ElementsMatch(t, []string{"ADDED e1", "ADDED e2"}, taken)
}

// BenchmarkEventSetLiveBytes: live heap per Event the watcher keeps, for
// 100,000 Events decoded from JSON (each string its own allocation, as from
// the apiserver), reduced to stubs and kept as the reflector keeps them
// (docs/benchmarks.md, memory).
func BenchmarkEventSetLiveBytes(b *testing.B) {
	const n = 100000
	now := metav1.Now()
	raws := make([][]byte, n)
	for i := range n {
		pod := fmt.Sprintf("web-%05d", i)
		raws[i], _ = json.Marshal(&corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod, 0x187a3b2c4d000000+i), Namespace: "storm",
				UID: types.UID(fmt.Sprintf("0a1b2c3d-aaaa-bbbb-cccc-%012d", i)), ResourceVersion: fmt.Sprint(100000 + i), CreationTimestamp: now},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "storm", Name: pod},
			Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container app in pod " + pod,
			FirstTimestamp: now, LastTimestamp: now, Count: 1,
		})
	}
	var perEvent float64
	for b.Loop() {
		set := newEventSet()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, raw := range raws {
			var ev corev1.Event
			require.NoError(b, json.Unmarshal(raw, &ev))
			require.NoError(b, set.Add(newEventStub(string(ev.UID), ev.ResourceVersion)))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEvent = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		runtime.KeepAlive(set)
	}
	b.ReportMetric(perEvent, "live-B/event")
}

// TestOwnEventsLeftOutByTheServer: the Event watch's selector keeps the
// Events about the controller's own objects on the apiserver, in the list
// and in the watch, and any fixed selector still applies.
func TestOwnEventsLeftOutByTheServer(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	kube, err := kubernetes.NewForConfig(env.Config)
	require.NoError(t, err)
	ctx := t.Context()
	create := func(name, apiVersion, kind, typ string) {
		t.Helper()
		_, err := kube.CoreV1().Events("default").Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name},
			InvolvedObject: corev1.ObjectReference{APIVersion: apiVersion, Kind: kind, Namespace: "default", Name: "x"},
			Type:           typ, Reason: "R",
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	own := v1alpha1.GroupVersion.String()
	create("listed-pod", "v1", "Pod", corev1.EventTypeWarning)
	create("listed-record", own, "Remediation", corev1.EventTypeWarning)
	create("listed-normal", "v1", "Pod", corev1.EventTypeNormal)

	for _, tt := range []struct {
		fixed      string
		list, seen []string
	}{
		{"", []string{"listed-normal", "listed-pod"}, []string{"watched-pod-"}},
		{"type=Warning", []string{"listed-pod", "watched-pod-"}, []string{"watched-pod-type=Warning"}}, // the first case's Pod Event is listed now
	} {
		t.Run("fixed selector "+tt.fixed, func(t *testing.T) {
			var mu sync.Mutex
			var taken []string
			lw := eventListWatch(kube, func(lo *metav1.ListOptions) { lo.FieldSelector = eventFieldSelector(tt.fixed) },
				&watchActivity{now: time.Now}, func(_ watch.EventType, ev *corev1.Event) *eventStub {
					mu.Lock()
					taken = append(taken, ev.Name)
					mu.Unlock()
					return newEventStub(string(ev.UID), ev.ResourceVersion)
				}, func() {})
			obj, err := lw.ListWithContext(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			mu.Lock()
			assert.ElementsMatch(t, tt.list, taken, "listed")
			taken = nil
			mu.Unlock()

			w, err := lw.WatchFuncWithContext(ctx, metav1.ListOptions{ResourceVersion: obj.(*metav1.List).ResourceVersion})
			require.NoError(t, err)
			defer w.Stop()
			create("watched-record-"+tt.fixed, own, "Remediation", corev1.EventTypeWarning)
			create("watched-pod-"+tt.fixed, "v1", "Pod", corev1.EventTypeWarning)
			select { // the Pod's Event, created last, arrives first: the record's never came
			case e := <-w.ResultChan():
				require.Equal(t, watch.Added, e.Type)
			case <-time.After(30 * time.Second):
				t.Fatal("no watch event")
			}
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, tt.seen, taken, "watched")
		})
	}
}
