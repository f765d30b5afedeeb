package watcher

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
)

// Watch activity of the Event informer, for dotai_event_watch_activity_timestamp_seconds:
// informer handlers never see bookmarks, so the ListerWatcher is wrapped and
// sees every watch event. A watch that neither opens, delivers an Event nor a
// bookmark for a few bookmark intervals is stalled.
const (
	activityOpened   = "opened"
	activityEvent    = "event"
	activityBookmark = "bookmark"
)

// eventListWatch lists and watches Events like the informer factory's own
// ListerWatcher, recording watch activity on the way through.
func eventListWatch(kube kubernetes.Interface, tweak func(*metav1.ListOptions), now func() time.Time) *toolscache.ListWatch {
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			return kube.CoreV1().Events(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			w, err := kube.CoreV1().Events(metav1.NamespaceAll).Watch(ctx, o)
			if err != nil {
				return nil, err
			}
			observeActivity(activityOpened, now)
			return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
				switch e.Type {
				case watch.Bookmark:
					observeActivity(activityBookmark, now)
				case watch.Added, watch.Modified, watch.Deleted:
					observeActivity(activityEvent, now)
				}
				return e, true
			}), nil
		},
	}
}

func observeActivity(kind string, now func() time.Time) {
	metricWatchActivity.WithLabelValues(kind).Set(float64(now().UnixNano()) / 1e9)
}

// newEventInformer builds the Event informer over eventListWatch; the
// factory applies its transform to it.
func newEventInformer(kube kubernetes.Interface, tweak func(*metav1.ListOptions), now func() time.Time) toolscache.SharedIndexInformer {
	return toolscache.NewSharedIndexInformer(eventListWatch(kube, tweak, now), &corev1.Event{}, 0,
		toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
}
