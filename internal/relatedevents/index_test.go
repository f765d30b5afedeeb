package relatedevents

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

var t0 = time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)

// ev is an Event of Pod pod in namespace ns, last seen at t0+at seconds.
func ev(ns, pod, name string, at int) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod},
		Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "back-off " + name, Count: 1,
		Source:        corev1.EventSource{Component: "kubelet"},
		LastTimestamp: metav1.NewTime(t0.Add(time.Duration(at) * time.Second)),
	}
}

// fallback records the lookups that reached it and answers one marker Event.
type fallback struct {
	mu    sync.Mutex
	calls []string
}

func (f *fallback) EventsFor(_ context.Context, namespace, kind, name string) ([]*corev1.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, namespace+"/"+kind+"/"+name)
	return []*corev1.Event{{ObjectMeta: metav1.ObjectMeta{Name: "from-fallback"}}}, nil
}

func names(evs []*corev1.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out
}

func TestIndex(t *testing.T) {
	add := func(x *Index, evs ...*corev1.Event) {
		for _, e := range evs {
			x.Observe(watch.Added, e)
		}
	}
	// oneEntry is the accounted size of an object with one of these Events.
	r := reduce(ev("ns", "a", "e1", 0))
	oneEntry := entryOverhead + len("ns") + len("Pod") + len("a") + r.bytes()
	tests := []struct {
		name          string
		opts          Options
		steps         func(x *Index)
		pod           string
		allNamespaces bool // look up in namespace "" rather than "ns"
		want          []string
		fallback      bool
	}{{
		name: "hit: the object's events, no request",
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "a", "e2", 2), ev("ns", "b", "e3", 3))
		},
		pod: "a", want: []string{"e1", "e2"},
	}, {
		name:  "unknown object of a complete index: none, no request",
		steps: func(x *Index) { x.MarkComplete(); add(x, ev("ns", "a", "e1", 1)) },
		pod:   "b", want: []string{},
	}, {
		name:  "same name in another namespace is another object",
		steps: func(x *Index) { x.MarkComplete(); add(x, ev("other", "a", "e1", 1)) },
		pod:   "a", want: []string{},
	}, {
		name:  "before the list ended: fallback",
		steps: func(x *Index) { add(x, ev("ns", "a", "e1", 1)) },
		pod:   "a", fallback: true,
	}, {
		name:  "all namespaces: fallback",
		steps: func(x *Index) { x.MarkComplete(); add(x, ev("ns", "a", "e1", 1)) },
		pod:   "a", allNamespaces: true, fallback: true,
	}, {
		name: "per-object cap keeps the newest by event time",
		opts: Options{PerObject: 3},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e5", 5), ev("ns", "a", "e1", 1), ev("ns", "a", "e4", 4), ev("ns", "a", "e2", 2), ev("ns", "a", "e3", 3))
		},
		pod: "a", want: []string{"e3", "e4", "e5"},
	}, {
		name: "a dropped event updated to the newest comes back",
		opts: Options{PerObject: 2},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "a", "e2", 2), ev("ns", "a", "e3", 3))
			x.Observe(watch.Modified, ev("ns", "a", "e1", 9))
		},
		pod: "a", want: []string{"e1", "e3"},
	}, {
		name: "a dropped event that came back is not counted as dropped",
		opts: Options{PerObject: 2},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "a", "e2", 2), ev("ns", "a", "e3", 3))
			x.Observe(watch.Modified, ev("ns", "a", "e1", 9)) // drops e2
			x.Observe(watch.Deleted, ev("ns", "a", "e2", 2))
			x.Observe(watch.Deleted, ev("ns", "a", "e3", 3))
		},
		pod: "a", want: []string{"e1"},
	}, {
		name: "modified in place by UID",
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1))
			x.Observe(watch.Modified, ev("ns", "a", "e1", 2))
		},
		pod: "a", want: []string{"e1"},
	}, {
		name: "deleted",
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "a", "e2", 2))
			x.Observe(watch.Deleted, ev("ns", "a", "e1", 1))
		},
		pod: "a", want: []string{"e2"},
	}, {
		name: "the dropped events deleted first (their TTL ends first): still answered",
		opts: Options{PerObject: 2},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "a", "e2", 2), ev("ns", "a", "e3", 3))
			x.Observe(watch.Deleted, ev("ns", "a", "e1", 1))
			x.Observe(watch.Deleted, ev("ns", "a", "e2", 2))
		},
		pod: "a", want: []string{"e3"},
	}, {
		name: "a kept event deleted while a dropped one exists: fallback",
		opts: Options{PerObject: 2},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "a", "e2", 2), ev("ns", "a", "e3", 3))
			x.Observe(watch.Deleted, ev("ns", "a", "e3", 3))
		},
		pod: "a", fallback: true,
	}, {
		name: "evicted by the budget (least recently used): fallback",
		opts: Options{MaxBytes: 2 * oneEntry},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "b", "e2", 2), ev("ns", "c", "e3", 3))
		},
		pod: "a", fallback: true,
	}, {
		name: "an evicted object's later events are not indexed: still fallback",
		opts: Options{MaxBytes: 2 * oneEntry},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "b", "e2", 2), ev("ns", "c", "e3", 3), ev("ns", "a", "e4", 4))
		},
		pod: "a", fallback: true,
	}, {
		name: "a lookup keeps an object from eviction",
		opts: Options{MaxBytes: 2 * oneEntry},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "b", "e2", 2))
			_, _ = x.EventsFor(context.Background(), "ns", "Pod", "a")
			add(x, ev("ns", "c", "e3", 3)) // evicts b
		},
		pod: "a", want: []string{"e1"},
	}, {
		name: "an object a lookup read outlives newer ones never read",
		opts: Options{MaxBytes: 3 * oneEntry},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1))
			_, _ = x.EventsFor(context.Background(), "ns", "Pod", "a")
			add(x, ev("ns", "b", "e2", 2), ev("ns", "c", "e3", 3), ev("ns", "d", "e4", 4), ev("ns", "e", "e5", 5))
		},
		pod: "a", want: []string{"e1"},
	}, {
		name: "objects never read are evicted first",
		opts: Options{MaxBytes: 3 * oneEntry},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1))
			_, _ = x.EventsFor(context.Background(), "ns", "Pod", "a")
			add(x, ev("ns", "b", "e2", 2), ev("ns", "c", "e3", 3), ev("ns", "d", "e4", 4))
		},
		pod: "b", fallback: true,
	}, {
		name: "read objects keep at most their share: new ones still find room",
		opts: Options{MaxBytes: 8 * oneEntry}, // 6 read objects at most
		steps: func(x *Index) {
			x.MarkComplete()
			for _, p := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
				add(x, ev("ns", p, "e-"+p, 1))
				_, _ = x.EventsFor(context.Background(), "ns", "Pod", p)
			}
			add(x, ev("ns", "i", "e-i", 2), ev("ns", "j", "e-j", 3))
		},
		pod: "i", want: []string{"e-i"},
	}, {
		name: "read objects beyond their share are demoted, then evicted first",
		opts: Options{MaxBytes: 8 * oneEntry},
		steps: func(x *Index) {
			x.MarkComplete()
			for _, p := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
				add(x, ev("ns", p, "e-"+p, 1))
				_, _ = x.EventsFor(context.Background(), "ns", "Pod", p)
			}
			add(x, ev("ns", "i", "e-i", 2))
		},
		pod: "a", fallback: true,
	}, {
		name: "the survivor of an eviction is answered",
		opts: Options{MaxBytes: 2 * oneEntry},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "b", "e2", 2), ev("ns", "c", "e3", 3))
		},
		pod: "c", want: []string{"e3"},
	}, {
		name: "relist: fallback until the list ends",
		steps: func(x *Index) {
			add(x, ev("ns", "a", "e1", 1))
			x.MarkComplete()
			x.Reset()
			add(x, ev("ns", "a", "e2", 2))
		},
		pod: "a", fallback: true,
	}, {
		name: "relist: after the list ended, only what the watch fed since",
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1))
			x.Reset()
			x.MarkComplete()
			add(x, ev("ns", "a", "e2", 2))
		},
		pod: "a", want: []string{"e2"},
	}, {
		name: "an object the list named is listed when first looked up",
		steps: func(x *Index) {
			add(x, ev("ns", "a", "e1", 1))
			x.MarkComplete()
		},
		pod: "a", fallback: true,
	}, {
		name: "relist forgets evictions",
		opts: Options{MaxBytes: 2 * oneEntry},
		steps: func(x *Index) {
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1), ev("ns", "b", "e2", 2), ev("ns", "c", "e3", 3))
			x.Reset()
			x.MarkComplete()
			add(x, ev("ns", "a", "e1", 1))
		},
		pod: "a", want: []string{"e1"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fallback{}
			tt.opts.Fallback = f
			x := New(tt.opts)
			tt.steps(x)
			f.calls = nil
			ns := "ns"
			if tt.allNamespaces {
				ns = ""
			}
			got, err := x.EventsFor(context.Background(), ns, "Pod", tt.pod)
			require.NoError(t, err)
			if tt.fallback {
				assert.Equal(t, []string{ns + "/Pod/" + tt.pod}, f.calls)
				assert.Equal(t, []string{"from-fallback"}, names(got))
				return
			}
			assert.Empty(t, f.calls, "no request")
			assert.Equal(t, tt.want, names(got))
		})
	}
}

// TestIndexModifiedKeepsNewestFields: a lookup returns the Event as last
// observed, not as first added.
func TestIndexModifiedKeepsNewestFields(t *testing.T) {
	x := New(Options{Fallback: &fallback{}})
	x.MarkComplete()
	x.Observe(watch.Added, ev("ns", "a", "e1", 1))
	updated := ev("ns", "a", "e1", 7)
	updated.Count, updated.Message = 4, "back-off again"
	x.Observe(watch.Modified, updated)
	got, err := x.EventsFor(context.Background(), "ns", "Pod", "a")
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, int32(4), got[0].Count)
	assert.Equal(t, "back-off again", got[0].Message)
	assert.True(t, got[0].LastTimestamp.Equal(&updated.LastTimestamp))
}

// TestIndexBudget: however many objects and Events are fed, the accounted
// bytes stay within the budget, the count and the gauge agree with what is
// held, and the lookups count by result.
func TestIndexBudget(t *testing.T) {
	const maxBytes = 64 << 10
	x := New(Options{Fallback: &fallback{}, MaxBytes: maxBytes})
	x.MarkComplete()
	x.Observe(watch.Added, ev("ns", "early", "e-early", 0)) // evicted soon, never looked up
	for i := range 5000 {
		x.Observe(watch.Added, ev("ns", fmt.Sprintf("pod-%d", i%700), fmt.Sprintf("e%d", i), i))
		if i%7 == 0 {
			_, _ = x.EventsFor(context.Background(), "ns", "Pod", fmt.Sprintf("pod-%d", i%700))
		}
		if i%3 == 0 {
			x.Observe(watch.Deleted, ev("ns", fmt.Sprintf("pod-%d", (i+350)%700), fmt.Sprintf("e%d", i-350), i-350))
		}
	}
	x.Observe(watch.Added, ev("ns", "fresh", "e-fresh", 6000))
	x.MarkComplete()
	x.mu.Lock()
	held, bytes, segBytes := 0, 0, map[*segment]int{}
	for _, e := range x.entries {
		held += len(e.events)
		bytes += e.bytes
		segBytes[e.seg] += e.bytes
		assert.LessOrEqual(t, len(e.events), DefaultPerObject)
	}
	assert.LessOrEqual(t, x.bytes, maxBytes)
	assert.Equal(t, bytes, x.bytes)
	assert.Equal(t, x.probation.bytes, segBytes[&x.probation])
	assert.Equal(t, x.protected.bytes, segBytes[&x.protected])
	assert.Zero(t, segBytes[nil], "every entry is in a segment")
	assert.LessOrEqual(t, x.protected.bytes, maxBytes/4*protectedShare)
	assert.Equal(t, held, x.count)
	assert.InDelta(t, float64(held), testutil.ToFloat64(metricIndexed), 0)
	x.mu.Unlock()

	hits, fallbacks := testutil.ToFloat64(metricLookups.WithLabelValues(resultHit)), testutil.ToFloat64(metricLookups.WithLabelValues(resultFallback))
	_, _ = x.EventsFor(context.Background(), "ns", "Pod", "fresh") // the newest: held
	_, _ = x.EventsFor(context.Background(), "ns", "Pod", "early") // evicted long ago
	assert.InDelta(t, hits+1, testutil.ToFloat64(metricLookups.WithLabelValues(resultHit)), 0)
	assert.InDelta(t, fallbacks+1, testutil.ToFloat64(metricLookups.WithLabelValues(resultFallback)), 0)
}

// TestEvictedKeysNoFalseNegatives: every added key is reported, and keys
// never added mostly are not.
func TestEvictedKeysNoFalseNegatives(t *testing.T) {
	f := newEvictedKeys()
	const n = 20000
	for i := range n {
		f.add(key{"ns", "Pod", fmt.Sprintf("p-%d", i)})
	}
	falsePositives := 0
	for i := range n {
		require.True(t, f.mayContain(key{"ns", "Pod", fmt.Sprintf("p-%d", i)}))
		if f.mayContain(key{"ns", "Pod", fmt.Sprintf("q-%d", i)}) {
			falsePositives++
		}
	}
	assert.Less(t, falsePositives, n/100, "false positives at %d keys", n)
	f.clear()
	assert.False(t, f.mayContain(key{"ns", "Pod", "p-0"}))
}

// scripted is a fallback that answers a given list (or error) and runs
// during before it answers, as the watch would while the LIST is in flight.
type scripted struct {
	calls  int
	list   []*corev1.Event
	err    error
	during func()
}

func (f *scripted) EventsFor(context.Context, string, string, string) ([]*corev1.Event, error) {
	f.calls++
	if f.during != nil {
		f.during()
	}
	return f.list, f.err
}

// TestIndexReadmits: an evicted object's next lookup lists it and takes it
// back in, so the lookups after it are answered from the index; what the
// watch adds or deletes while that list is in flight is merged, not lost or
// revived; a failed list, or a reset meanwhile, takes nothing back in.
func TestIndexReadmits(t *testing.T) {
	// evicted returns an index whose object ns/Pod/a was evicted: a budget
	// for one object, then Events of another.
	evicted := func(t *testing.T, fb *scripted) *Index {
		t.Helper()
		x := New(Options{Fallback: fb, MaxBytes: entryOverhead + 3*(recordOverhead+64) + 100})
		x.MarkComplete()
		x.Observe(watch.Added, ev("ns", "a", "a1", 1))
		for i := range 3 {
			x.Observe(watch.Added, ev("ns", "b", fmt.Sprintf("b%d", i), 2+i))
		}
		x.mu.Lock()
		_, held := x.entries[key{"ns", "Pod", "a"}]
		x.mu.Unlock()
		require.False(t, held, "a was evicted")
		return x
	}
	lookup := func(t *testing.T, x *Index) []string {
		t.Helper()
		evs, err := x.EventsFor(context.Background(), "ns", "Pod", "a")
		require.NoError(t, err)
		return names(evs)
	}
	tests := map[string]struct {
		list      []*corev1.Event
		err       error
		during    func(x *Index)
		wantFirst []string // the lookup that lists
		wantThen  []string // the next lookup
		wantCalls int      // lists after both lookups
	}{
		"taken back in": {
			list:      []*corev1.Event{ev("ns", "a", "a1", 1), ev("ns", "a", "a2", 10)},
			wantFirst: []string{"a1", "a2"}, wantThen: []string{"a1", "a2"}, wantCalls: 1,
		},
		"the watch meanwhile": {
			list: []*corev1.Event{ev("ns", "a", "a1", 1), ev("ns", "a", "a2", 10)},
			during: func(x *Index) {
				x.Observe(watch.Added, ev("ns", "a", "a3", 11))  // after the list's snapshot
				x.Observe(watch.Deleted, ev("ns", "a", "a1", 1)) // the list still has it
			},
			wantFirst: []string{"a1", "a2"}, wantThen: []string{"a2", "a3"}, wantCalls: 1,
		},
		"failed list": {
			err: fmt.Errorf("apiserver unavailable"), wantCalls: 2,
		},
		"reset meanwhile": {
			list:   []*corev1.Event{ev("ns", "a", "a1", 1)},
			during: func(x *Index) { x.Reset() },
			// The relist that follows has no Event of a: the list's answer
			// from before it is not merged into it.
			wantFirst: []string{"a1"}, wantThen: []string{}, wantCalls: 1,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			fb := &scripted{list: tt.list, err: tt.err}
			x := evicted(t, fb)
			if tt.during != nil {
				fb.during = func() { tt.during(x) }
			}
			evs, err := x.EventsFor(context.Background(), "ns", "Pod", "a")
			if tt.err != nil {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.wantFirst, names(evs), "the first lookup answers the list")
			}
			fb.during, fb.err = nil, nil
			if name == "reset meanwhile" {
				x.MarkComplete() // the relist ended
			}
			if tt.wantThen != nil {
				assert.Equal(t, tt.wantThen, lookup(t, x), "answered from the index")
			} else {
				_ = lookup(t, x)
			}
			assert.Equal(t, tt.wantCalls, fb.calls)
			x.mu.Lock()
			defer x.mu.Unlock()
			held, bytes := 0, 0
			for _, e := range x.entries {
				held, bytes = held+len(e.events), bytes+e.bytes
				assert.False(t, e.filling, "no object is left half taken in")
			}
			assert.Equal(t, held, x.count, "the count is of what is held")
			assert.Equal(t, bytes, x.bytes, "the accounting is of what is held")
		})
	}
}

// TestIndexLeavesRemediationEventsToTheFallback: the controller's own
// Events on its Remediation records are not indexed, and their lookups list.
func TestIndexLeavesRemediationEventsToTheFallback(t *testing.T) {
	fb := &scripted{}
	x := New(Options{Fallback: fb})
	x.MarkComplete()
	rec := ev("ns", "rem-1", "rem-1.abc", 1)
	rec.InvolvedObject.Kind = "Remediation"
	x.Observe(watch.Added, rec)
	assert.Zero(t, x.count)
	_, err := x.EventsFor(context.Background(), "ns", "Remediation", "rem-1")
	require.NoError(t, err)
	assert.Equal(t, 1, fb.calls)
}
