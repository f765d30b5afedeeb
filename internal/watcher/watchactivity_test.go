package watcher

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestEventWatchActivity: the wrapped ListerWatcher records the watch's
// opening, Events and bookmarks (which informer handlers never see), and
// passes every watch event through.
func TestEventWatchActivity(t *testing.T) {
	kube := fake.NewClientset()
	fw := watch.NewFake()
	var gotSelector string
	kube.PrependWatchReactor("events", func(a k8stesting.Action) (bool, watch.Interface, error) {
		gotSelector = a.(k8stesting.WatchActionImpl).WatchRestrictions.Fields.String()
		return true, fw, nil
	})
	now := time.Unix(1000, 0)
	lw := eventListWatch(kube, func(o *metav1.ListOptions) { o.FieldSelector = "type=Warning" }, func() time.Time { return now })

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
		{name: "event", send: watch.Event{Type: watch.Added, Object: &corev1.Event{}}, at: 1090, check: activityEvent},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			now = time.Unix(st.at, 0)
			go fw.Action(st.send.Type, st.send.Object)
			got := <-w.ResultChan()
			require.Equal(t, st.send.Type, got.Type, "passed through")
			require.Eventually(t, func() bool { return activity(t, st.check) == float64(st.at) }, 5*time.Second, 10*time.Millisecond)
		})
	}
	require.InDelta(t, 1000, activity(t, activityOpened), 0, "a bookmark or event is not an opening")
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
