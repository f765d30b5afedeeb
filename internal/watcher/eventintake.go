package watcher

import (
	"context"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
)

// The Event intake. Events are not cached: each one is selected as it comes
// off the watch (or out of a list page, when the apiserver cannot stream),
// on the stream's goroutine and in the stream's order, and the reflector
// then sees only a stub and keeps only the Event's UID (eventSet), which the
// checkpoint's pruning asks about. So memory does not grow with the
// cluster's Events beyond a set of UIDs, and start-up stays streamed: with
// WatchList the reflector gathers the initial Events in a temporary store
// before replacing its own, and what it gathers is already a stub. Related
// events for enrichment are read on demand (enricher.APIEvents).

// listPageSize pages the list the reflector falls back to when the
// apiserver cannot stream (WatchList): each page is processed and reduced
// to stubs as it arrives. The apiserver may still answer an initial
// resourceVersion=0 list from its watch cache in one response.
const listPageSize = 500

// eventStub is what the reflector sees of an Event: its UID, also as the
// name so that the reflector's temporary store keys by it, and its
// resourceVersion, which the reflector tracks.
type eventStub struct{ uid, rv string }

func (s *eventStub) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (s *eventStub) DeepCopyObject() runtime.Object   { c := *s; return &c }

// GetObjectMeta lets the reflector read the stub (meta.Accessor).
func (s *eventStub) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Name: s.uid, UID: types.UID(s.uid), ResourceVersion: s.rv}
}

// eventSet is the reflector's store: the UIDs of the Events that exist.
type eventSet struct {
	mu       sync.RWMutex
	uids     map[string]struct{}
	syncOnce sync.Once
	synced   chan struct{} // closed by the first Replace: the initial Events were processed
}

func newEventSet() *eventSet {
	return &eventSet{uids: map[string]struct{}{}, synced: make(chan struct{})}
}

func stubUID(obj any) string {
	if s, ok := obj.(*eventStub); ok {
		return s.uid
	}
	return ""
}

func (x *eventSet) insert(uid string) {
	if uid == "" {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.uids[uid]; !ok {
		x.uids[strings.Clone(uid)] = struct{}{} // not a slice of a decode buffer
	}
}

// Add, Update, Delete, Replace and Resync make eventSet a
// toolscache.ReflectorStore.
func (x *eventSet) Add(obj any) error    { x.insert(stubUID(obj)); return nil }
func (x *eventSet) Update(obj any) error { x.insert(stubUID(obj)); return nil }
func (x *eventSet) Resync() error        { return nil }

func (x *eventSet) Delete(obj any) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.uids, stubUID(obj))
	return nil
}

// Replace is called with every Event after a (re)list; the first call
// ends the start-up.
func (x *eventSet) Replace(list []any, _ string) error {
	uids := make(map[string]struct{}, len(list))
	for _, obj := range list {
		if uid := stubUID(obj); uid != "" {
			uids[strings.Clone(uid)] = struct{}{}
		}
	}
	x.mu.Lock()
	x.uids = uids
	x.mu.Unlock()
	x.syncOnce.Do(func() { close(x.synced) })
	return nil
}

func (x *eventSet) has(uid types.UID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.uids[string(uid)]
	return ok
}

func (x *eventSet) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.uids)
}

func (x *eventSet) isSynced() bool {
	select {
	case <-x.synced:
		return true
	default:
		return false
	}
}

// intake is the one place an Event enters the pipeline: it is known to
// exist before it is processed (so a checkpoint written meanwhile keeps its
// mark), processed unless deleted, and reduced to its stub. Events seen
// before the first list completed count as found at start-up.
func (w *Watcher) intake(ctx context.Context, t watch.EventType, ev *corev1.Event) *eventStub {
	s := &eventStub{uid: string(ev.UID), rv: ev.ResourceVersion}
	if t == watch.Deleted {
		return s
	}
	w.eventSet.insert(s.uid)
	w.onEvent(ctx, newEventRecord(ev), !w.eventSet.isSynced())
	return s
}

// eventListWatch lists and watches Events, hands each one to intake and
// passes its stub on, and records watch activity: openings, Events and
// bookmarks (which no store sees).
func eventListWatch(kube kubernetes.Interface, tweak func(*metav1.ListOptions), a *watchActivity,
	intake func(watch.EventType, *corev1.Event) *eventStub) *toolscache.ListWatch {
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			list, err := kube.CoreV1().Events(metav1.NamespaceAll).List(ctx, o)
			if err != nil {
				return nil, err
			}
			out := &metav1.List{ListMeta: list.ListMeta, Items: make([]runtime.RawExtension, len(list.Items))}
			for i := range list.Items {
				out.Items[i].Object = intake(watch.Added, &list.Items[i])
			}
			return out, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			w, err := kube.CoreV1().Events(metav1.NamespaceAll).Watch(ctx, o)
			if err != nil {
				return nil, err
			}
			a.observe(activityOpened)
			return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
				switch e.Type {
				case watch.Bookmark:
					a.observe(activityBookmark)
				case watch.Added, watch.Modified, watch.Deleted:
					a.observe(activityEvent)
					if ev, ok := e.Object.(*corev1.Event); ok {
						e.Object = intake(e.Type, ev)
					}
				}
				return e, true
			}), nil
		},
	}
}

// newEventReflector builds the reflector that drives the intake into the
// watcher's eventSet.
func (w *Watcher) newEventReflector(ctx context.Context, kube kubernetes.Interface, tweak func(*metav1.ListOptions)) *toolscache.Reflector {
	lw := eventListWatch(kube, tweak, w.activity, func(t watch.EventType, ev *corev1.Event) *eventStub { return w.intake(ctx, t, ev) })
	r := toolscache.NewReflectorWithOptions(lw, nil, w.eventSet, toolscache.ReflectorOptions{Name: "dot-ai-events"})
	r.WatchListPageSize = listPageSize
	return r
}
