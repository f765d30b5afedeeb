package watcher

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/relatedevents"
	"dot-ai.io/controller/internal/testenv"
)

// indexLog records what the watcher tells an EventIndex.
type indexLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *indexLog) add(op string) { l.mu.Lock(); l.ops = append(l.ops, op); l.mu.Unlock() }

func (l *indexLog) Observe(t watch.EventType, ev *corev1.Event) { l.add(string(t) + " " + ev.Name) }
func (l *indexLog) Reset()                                      { l.add("reset") }
func (l *indexLog) MarkComplete()                               { l.add("complete") }

// TestEventIndexFeed: a relist resets the index, the list's end completes
// it, and deletes reach it although the pipeline skips them.
func TestEventIndexFeed(t *testing.T) {
	l := &indexLog{}
	w := &Watcher{eventSet: newEventSet(), index: l}
	w.eventSet.replaced = l.MarkComplete
	w.relist()
	require.NoError(t, w.eventSet.Replace(nil, ""))
	w.intake(context.Background(), watch.Deleted, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "gone", UID: "u1"}})
	assert.Equal(t, []string{"reset", "complete", "DELETED gone"}, l.ops)
}

// countingSource counts the lookups the index could not answer.
type countingSource struct {
	mu    sync.Mutex
	calls int
	list  enricher.EventSource // answers, when set
}

func (c *countingSource) EventsFor(ctx context.Context, namespace, kind, name string) ([]*corev1.Event, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	if c.list == nil {
		return nil, nil
	}
	return c.list.EventsFor(ctx, namespace, kind, name)
}

func (c *countingSource) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

// testEventIndex: against a real apiserver, the index the watcher feeds
// answers from the initial list and the watch (adds, updates, deletes)
// without a request once the watcher started, and falls back once it
// stopped; under a field selector the watcher does not feed it.
func testEventIndex(t *testing.T, env *testenv.Env) {
	c := env.Client
	ctx := context.Background()
	createNamespace(t, c, "related", nil)
	createEvent(t, c, "related", "listed", "Warning", "BackOff", "Pod", "a")
	kube, err := kubernetes.NewForConfig(env.Config)
	require.NoError(t, err)
	fb := &countingSource{list: enricher.APIEvents{Client: kube}}
	idx := relatedevents.New(relatedevents.Options{Fallback: fb})
	names := func(pod string) []string {
		evs, err := idx.EventsFor(ctx, "related", "Pod", pod)
		require.NoError(t, err)
		var out []string
		for _, e := range evs {
			out = append(out, e.Name+"/"+e.Message)
		}
		slices.Sort(out)
		return out
	}
	names("a")
	require.Equal(t, 1, fb.count(), "not started: fallback")

	h := newSeenHook()
	r := startWatcher(t, env.Config, testSettings(), &recorder{}, h.hook, WithEventIndex(idx))
	t.Cleanup(func() { r.stop(t) })
	// The initial list's objects are listed when first looked up, then held.
	assert.Equal(t, []string{"listed/BackOff of a"}, names("a"), "from the initial list")
	assert.Equal(t, 2, fb.count(), "an object of the initial list: listed once")
	assert.Equal(t, []string{"listed/BackOff of a"}, names("a"), "held since")
	assert.Empty(t, names("b"), "no Event of b")
	assert.Equal(t, 2, fb.count(), "no request for what the watch fed")

	watched := createEvent(t, c, "related", "watched", "Warning", "BackOff", "Pod", "a")
	h.wait(t, "related", "watched")
	assert.Equal(t, []string{"listed/BackOff of a", "watched/BackOff of a"}, names("a"))
	watched.Message = "edited"
	require.NoError(t, c.Update(ctx, watched))
	require.Eventually(t, func() bool { return slices.Contains(names("a"), "watched/edited") }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, c.Delete(ctx, watched))
	require.Eventually(t, func() bool { return !slices.Contains(names("a"), "watched/edited") }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"listed/BackOff of a"}, names("a"))
	assert.Equal(t, 2, fb.count(), "no request while watching")

	r.stop(t)
	names("a")
	assert.Equal(t, 3, fb.count(), "stopped: fallback")

	mgr, err := manager.New(env.Config, manager.Options{Scheme: testenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	require.NoError(t, err)
	w, err := New(mgr, testSettings(), &recorder{}, WithEventIndex(idx), WithEventFieldSelector("type=Warning"))
	require.NoError(t, err)
	assert.Nil(t, w.index, "a field selector hides Events from the index: not fed")
}
