package watcher

import (
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestEventWatchActivity: the wrapped ListerWatcher records the watch's
// opening, Events and bookmarks (which no store sees), hands Events to the
// intake and passes every watch event through, Events as their stubs.
func TestEventWatchActivity(t *testing.T) {
	kube := fake.NewClientset()
	fw := watch.NewFake()
	var gotSelector string
	kube.PrependWatchReactor("events", func(a k8stesting.Action) (bool, watch.Interface, error) {
		gotSelector = a.(k8stesting.WatchActionImpl).WatchRestrictions.Fields.String()
		return true, fw, nil
	})
	now := time.Unix(1000, 0)
	a := &watchActivity{now: func() time.Time { return now }}
	var taken []watch.EventType
	intake := func(t watch.EventType, ev *corev1.Event) *eventStub {
		taken = append(taken, t)
		return newEventStub(string(ev.UID), "")
	}
	lw := eventListWatch(kube, func(o *metav1.ListOptions) { o.FieldSelector = "type=Warning" }, a, intake, func() {})

	w, err := lw.WatchWithContext(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	defer w.Stop()
	require.Equal(t, "type=Warning", gotSelector, "the tweak reaches the watch")
	require.InDelta(t, 1000, activity(t, activityOpened), 0)

	steps := []struct {
		name  string
		send  watch.Event
		at    int64
		check string
	}{
		{name: "bookmark", send: watch.Event{Type: watch.Bookmark, Object: &corev1.Event{}}, at: 1060, check: activityBookmark},
		{name: "event", send: watch.Event{Type: watch.Added, Object: &corev1.Event{ObjectMeta: metav1.ObjectMeta{UID: "u1"}}}, at: 1090, check: activityEvent},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			now = time.Unix(st.at, 0)
			go fw.Action(st.send.Type, st.send.Object)
			got := <-w.ResultChan()
			require.Equal(t, st.send.Type, got.Type, "passed through")
			if st.send.Type == watch.Added {
				require.Equal(t, newEventStub("u1", ""), got.Object, "the reflector sees the stub")
			}
			require.Eventually(t, func() bool { return activity(t, st.check) == float64(st.at) }, 5*time.Second, 10*time.Millisecond)
			require.Equal(t, time.Unix(st.at, 0).UnixNano(), a.last.Load(), "the liveness check sees it")
		})
	}
	require.InDelta(t, 1000, activity(t, activityOpened), 0, "a bookmark or event is not an opening")
	require.Equal(t, []watch.EventType{watch.Added}, taken, "Events, not bookmarks, go through the intake")
}

func activity(t *testing.T, kind string) float64 {
	t.Helper()
	g, err := metricWatchActivity.GetMetricWithLabelValues(kind)
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(g))
	fams, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, fams, 1)
	return fams[0].GetMetric()[0].GetGauge().GetValue()
}

// TestWatchLivenessCheck: only a started leader whose Event watch has been
// idle for longer than the bound fails; the bound counts from the latest
// activity or, before any, from the first check that saw the leader ready.
func TestWatchLivenessCheck(t *testing.T) {
	const stall = 3 * time.Minute
	start := time.Unix(10_000, 0)
	cases := []struct {
		name     string
		ready    bool
		stopping bool
		stall    time.Duration
		last     time.Duration // activity at start+last; negative: none
		at       time.Duration // the second check, at start+at
		fails    bool
	}{
		{name: "standby or starting up", ready: false, stall: stall, last: -1, at: time.Hour},
		{name: "recent bookmark", ready: true, stall: stall, last: 50 * time.Minute, at: 52 * time.Minute},
		{name: "exactly the bound", ready: true, stall: stall, last: time.Minute, at: time.Minute + stall},
		{name: "idle past the bound", ready: true, stall: stall, last: time.Minute, at: time.Minute + stall + time.Second, fails: true},
		{name: "never opened after start-up", ready: true, stall: stall, last: -1, at: stall + time.Second, fails: true},
		{name: "never opened, within the bound", ready: true, stall: stall, last: -1, at: stall},
		{name: "shutting down", ready: true, stopping: true, stall: stall, last: 0, at: time.Hour},
		{name: "disabled", ready: true, stall: 0, last: 0, at: time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := start
			w := &Watcher{log: logr.Discard(), activity: &watchActivity{now: func() time.Time { return now }}}
			w.ready.Store(c.ready)
			w.stopping.Store(c.stopping)
			check := w.WatchLivenessCheck(c.stall)
			require.NoError(t, check(&http.Request{}), "first check at start")
			if c.last >= 0 {
				w.activity.last.Store(start.Add(c.last).UnixNano())
			}
			now = start.Add(c.at)
			err := check(&http.Request{})
			if c.fails {
				require.ErrorContains(t, err, "event watch stalled")
			} else {
				require.NoError(t, err)
			}
		})
	}
}
