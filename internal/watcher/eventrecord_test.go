package watcher

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	"dot-ai.io/controller/internal/eventtime"
)

func TestEventRecordRoundTrip(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(1_700_000_000+s, 0) }
	full := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1.17a", Namespace: "team-a", UID: "e-uid", ResourceVersion: "42",
			CreationTimestamp: metav1.NewTime(at(0))},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "team-a", Name: "web-1",
			UID: "p-uid", FieldPath: "spec.containers{app}"},
		Reason: "BackOff", Message: "Back-off restarting failed container", Type: corev1.EventTypeWarning, Action: "Restart",
		Source:              corev1.EventSource{Component: "kubelet", Host: "node-1"},
		ReportingController: "kubelet", ReportingInstance: "node-1",
		FirstTimestamp: metav1.NewTime(at(1)), LastTimestamp: metav1.NewTime(at(2)),
		EventTime: metav1.NewMicroTime(at(3).Add(1500 * time.Microsecond)), Count: 7,
		Series: &corev1.EventSeries{Count: 9, LastObservedTime: metav1.NewMicroTime(at(4))},
	}
	tests := []struct {
		name string
		in   *corev1.Event
		want *corev1.Event
	}{
		{"every kept field survives", full, full},
		{"zero times and no series stay unset", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}, Reason: "X"},
			&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}, Reason: "X"}},
		{
			"labels, annotations, managed fields, owners, related and the object's resourceVersion are dropped",
			func() *corev1.Event {
				ev := full.DeepCopy()
				ev.Labels = map[string]string{"a": "b"}
				ev.Annotations = map[string]string{"c": "d"}
				ev.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
				ev.OwnerReferences = []metav1.OwnerReference{{Name: "o"}}
				ev.Related = &corev1.ObjectReference{Name: "r"}
				ev.InvolvedObject.ResourceVersion = "9"
				return ev
			}(),
			full,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := newEventRecord(tc.in).event()
			// Times compare as instants: the record keeps no location.
			for _, p := range []struct{ got, want *metav1.Time }{
				{&got.CreationTimestamp, &tc.want.CreationTimestamp},
				{&got.FirstTimestamp, &tc.want.FirstTimestamp},
				{&got.LastTimestamp, &tc.want.LastTimestamp},
			} {
				assert.True(t, p.got.Equal(p.want), "time %v != %v", p.got, p.want)
				p.got.Time = p.want.Time
			}
			assert.True(t, got.EventTime.Equal(&tc.want.EventTime))
			got.EventTime = tc.want.EventTime
			if tc.want.Series != nil {
				require.NotNil(t, got.Series)
				assert.True(t, got.Series.LastObservedTime.Equal(&tc.want.Series.LastObservedTime))
				got.Series.LastObservedTime = tc.want.Series.LastObservedTime
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, occurrenceCount(tc.want), occurrenceCount(got))
			assert.True(t, eventtime.Of(tc.want).Equal(eventtime.Of(got)))
		})
	}
}

func TestEventRecordMessageIsBoundedOnARuneBoundary(t *testing.T) {
	tests := []struct {
		name    string
		message string
		wantLen int
	}{
		{"short message kept", "short", 5},
		{"ASCII cut at the bound", strings.Repeat("a", 5000), maxMessageBytes},
		{"a 3-byte rune across the bound is dropped whole", strings.Repeat("a", maxMessageBytes-1) + "€€", maxMessageBytes - 1},
		{"invalid UTF-8 before the bound is kept as is", "\xff" + strings.Repeat("a", 5000), maxMessageBytes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := newEventRecord(&corev1.Event{Message: tc.message}).message
			assert.Len(t, got, tc.wantLen)
			assert.True(t, strings.HasPrefix(tc.message, got))
		})
	}
}

func TestEventRecordSharesRepeatedStrings(t *testing.T) {
	n := 0
	mk := func() *corev1.Event {
		n++
		// Separate allocations, like two decoded Events.
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: strings.Clone("team-a"), Name: fmt.Sprintf("web-1.17a2b3c4d5e6f7%d", n)},
			InvolvedObject: corev1.ObjectReference{Kind: strings.Clone("Pod"), Name: strings.Clone("web-1")},
			Reason:         strings.Clone("BackOff"),
		}
	}
	a, b := newEventRecord(mk()), newEventRecord(mk())
	for name, pair := range map[string][2]string{
		"namespace":     {a.namespace, b.namespace},
		"involved kind": {a.involvedKind, b.involvedKind},
		"involved name": {a.involvedName, b.involvedName},
		"reason":        {a.reason, b.reason},
	} {
		assert.Equal(t, stringAddr(pair[0]), stringAddr(pair[1]), name)
	}
	assert.NotEqual(t, stringAddr(a.name), stringAddr(b.name), "names are not interned")
}

// stringAddr is where a string's bytes live (testify compares pointers by
// what they point to).
func stringAddr(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }

func TestInternPoolIsBounded(t *testing.T) {
	p := &internPool{values: map[string]string{}, max: 3}
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		assert.Equal(t, s, p.get(s))
		assert.LessOrEqual(t, len(p.values), 3)
	}
	assert.Empty(t, p.get(""))
}

func TestEventRecordWorksAsAnInformerObject(t *testing.T) {
	r := newEventRecord(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns", UID: "u", ResourceVersion: "5"}})
	key, err := toolscache.MetaNamespaceKeyFunc(r)
	require.NoError(t, err)
	assert.Equal(t, "ns/e", key)
	key, err = toolscache.DeletionHandlingMetaNamespaceKeyFunc(toolscache.DeletedFinalStateUnknown{Key: "ns/e", Obj: r})
	require.NoError(t, err)
	assert.Equal(t, "ns/e", key)
	assert.Equal(t, "5", r.GetObjectMeta().GetResourceVersion())
	assert.Equal(t, types.UID("u"), r.GetObjectMeta().GetUID())
}

func TestEventIndex(t *testing.T) {
	rec := func(uid, object string, count int32) *eventRecord {
		return &eventRecord{name: uid, namespace: "ns", uid: uid, involvedKind: "Pod", involvedName: object, count: count}
	}
	a1, b1, c1 := rec("a", "web-1", 1), rec("b", "web-1", 1), rec("c", "web-2", 1)
	a2 := rec("a", "web-1", 2)
	type op struct {
		kind     string // add, update, remove
		old, rec *eventRecord
	}
	tests := []struct {
		name     string
		ops      []op
		web1     []*eventRecord
		web2     []*eventRecord
		uids     []types.UID
		goneUIDs []types.UID
	}{
		{"adds group by involved object", []op{{"add", nil, a1}, {"add", nil, b1}, {"add", nil, c1}},
			[]*eventRecord{a1, b1}, []*eventRecord{c1}, []types.UID{"a", "b", "c"}, nil},
		{"update replaces the record", []op{{"add", nil, a1}, {"add", nil, b1}, {"update", a1, a2}},
			[]*eventRecord{a2, b1}, nil, []types.UID{"a", "b"}, nil},
		{"update of an unseen record adds it", []op{{"update", a1, a2}}, []*eventRecord{a2}, nil, []types.UID{"a"}, nil},
		{"an add of an indexed Event replaces it", []op{{"add", nil, a1}, {"add", nil, b1}, {"add", nil, a2}},
			[]*eventRecord{a2, b1}, nil, []types.UID{"a", "b"}, nil},
		{"remove forgets the record and its UID", []op{{"add", nil, a1}, {"add", nil, b1}, {"add", nil, c1}, {"remove", nil, a2}, {"remove", nil, c1}},
			[]*eventRecord{b1}, nil, []types.UID{"b"}, []types.UID{"a", "c"}},
		{"removing an unknown record is harmless", []op{{"add", nil, a1}, {"remove", nil, c1}}, []*eventRecord{a1}, nil, []types.UID{"a"}, []types.UID{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := NewEventIndex()
			for _, o := range tc.ops {
				switch o.kind {
				case "add":
					x.add(o.rec)
				case "update":
					x.update(o.old, o.rec)
				case "remove":
					x.remove(o.rec)
				}
			}
			assert.ElementsMatch(t, tc.web1, x.forObject("ns/Pod/web-1"))
			assert.ElementsMatch(t, tc.web2, x.forObject("ns/Pod/web-2"))
			for _, uid := range tc.uids {
				assert.True(t, x.has(uid), uid)
			}
			for _, uid := range tc.goneUIDs {
				assert.False(t, x.has(uid), uid)
			}
			assert.Len(t, x.byObject, len(slices.DeleteFunc([][]*eventRecord{tc.web1, tc.web2}, func(l []*eventRecord) bool { return len(l) == 0 })),
				"no empty object entries are kept")
		})
	}
}

func TestEventRecordObjectKeyDefaultsToTheEventsNamespace(t *testing.T) {
	assert.Equal(t, "ns/Node/n1", (&eventRecord{namespace: "ns", involvedKind: "Node", involvedName: "n1"}).objectKey())
	assert.Equal(t, "other/Pod/p", (&eventRecord{namespace: "ns", involvedNamespace: "other", involvedKind: "Pod", involvedName: "p"}).objectKey())
}

// BenchmarkEventCacheLiveBytes: live heap per cached Event, for 50,000
// Events decoded from JSON (each string its own allocation, as from the
// apiserver), transformed and stored as the informer stores them, with the
// watcher's event index: 100 Events on each of 500 Pods (like the storm), and
// one Event per Pod (docs/reliability.md, memory).
func BenchmarkEventCacheLiveBytes(b *testing.B) {
	for _, shape := range []struct {
		name    string
		objects int
	}{{"100-events-per-pod", 500}, {"one-event-per-pod", 50000}} {
		b.Run(shape.name, func(b *testing.B) {
			benchmarkCacheLiveBytes(b, 50000, shape.objects)
		})
	}
}

func benchmarkCacheLiveBytes(b *testing.B, n, objects int) {
	now := metav1.Now()
	raws := make([][]byte, n)
	for i := range n {
		pod := fmt.Sprintf("web-%05d", i%objects)
		podUID := fmt.Sprintf("1a1b2c3d-aaaa-bbbb-cccc-%012d", i%objects)
		raws[i], _ = json.Marshal(&corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod, 0x187a3b2c4d000000+i), Namespace: "storm",
				UID: types.UID(fmt.Sprintf("0a1b2c3d-aaaa-bbbb-cccc-%012d", i)), ResourceVersion: fmt.Sprint(100000 + i), CreationTimestamp: now,
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: "Update", APIVersion: "v1", Time: &now, FieldsType: "FieldsV1",
					FieldsV1: metav1.NewFieldsV1(`{"f:count":{},"f:firstTimestamp":{},"f:involvedObject":{},"f:lastTimestamp":{},"f:message":{},"f:reason":{},"f:source":{"f:component":{},"f:host":{}},"f:type":{}}`)}}},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "storm", Name: pod, UID: types.UID(podUID),
				FieldPath: "spec.containers{app}", ResourceVersion: "1234"},
			Type: corev1.EventTypeWarning, Reason: "BackOff",
			Message:        fmt.Sprintf("Back-off restarting failed container app in pod %s_storm(%s)", pod, podUID),
			Source:         corev1.EventSource{Component: "kubelet", Host: "kwok-node-0"},
			FirstTimestamp: now, LastTimestamp: now, Count: 1, ReportingController: "kubelet", ReportingInstance: "kwok-node-0",
		})
	}
	var perEvent float64
	for b.Loop() {
		store := toolscache.NewStore(toolscache.DeletionHandlingMetaNamespaceKeyFunc)
		index := NewEventIndex()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, raw := range raws {
			var ev corev1.Event
			require.NoError(b, json.Unmarshal(raw, &ev))
			obj, err := transform(&ev)
			require.NoError(b, err)
			require.NoError(b, store.Add(obj))
			index.add(obj.(*eventRecord))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEvent = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		runtime.KeepAlive(store)
		runtime.KeepAlive(index)
	}
	b.ReportMetric(perEvent, "live-B/event")
}
