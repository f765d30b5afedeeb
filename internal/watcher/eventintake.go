package watcher

import (
	"context"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"

	"dot-ai.io/controller/api/v1alpha1"
)

// The Event intake. Events are not cached: each one is selected as it comes
// off the watch (or out of a list page, when the apiserver cannot stream),
// on the stream's goroutine and in the stream's order, and the reflector
// then sees only a stub and keeps only the Event's UID (eventSet), which the
// checkpoint's pruning asks about. So memory does not grow with the
// cluster's Events beyond a set of UIDs, and start-up stays streamed: with
// WatchList the reflector gathers the initial Events in a temporary store
// before replacing its own, and what it gathers is already a stub. Related
// events for enrichment come from a bounded index the intake feeds
// (EventIndex, relatedevents.Index; docs/design/related-events.md), or are
// listed on demand where it cannot answer.

// listPageSize pages the list the reflector falls back to when the
// apiserver cannot stream (WatchList): each page is processed and reduced
// to stubs as it arrives. The apiserver may still answer an initial
// resourceVersion=0 list from its watch cache in one response.
const listPageSize = 500

// eventStub is what the reflector sees of an Event: its UID, also as the
// name so that the reflector's temporary store keys by it, and its
// resourceVersion, which the reflector tracks. It is a metav1.Object itself
// (meta.Accessor would otherwise build an ObjectMeta on every call); the
// methods it does not override read an empty ObjectMeta shared by all stubs.
// UID and resourceVersion share one string, "<uid>\x00<rv>" (UIDs hold no
// NUL): 80 bytes a stub instead of 104, which during a list counts once per
// Event in the reflector's temporary store, the start-up's peak.
type eventStub struct {
	metav1.Object
	s string
}

// noMeta answers the stub methods the reflector never calls on Events.
var noMeta = &metav1.ObjectMeta{}

func newEventStub(uid, rv string) *eventStub { return &eventStub{Object: noMeta, s: uid + "\x00" + rv} }

// uid and rv split the stub's string.
func (s *eventStub) uid() string {
	if i := strings.IndexByte(s.s, 0); i >= 0 {
		return s.s[:i]
	}
	return s.s
}

func (s *eventStub) rv() string {
	if i := strings.IndexByte(s.s, 0); i >= 0 {
		return s.s[i+1:]
	}
	return ""
}

func (s *eventStub) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (s *eventStub) DeepCopyObject() runtime.Object   { c := *s; return &c }
func (s *eventStub) GetName() string                  { return s.uid() }
func (s *eventStub) GetNamespace() string             { return "" }
func (s *eventStub) GetUID() types.UID                { return types.UID(s.uid()) }
func (s *eventStub) GetResourceVersion() string       { return s.rv() }

// eventSet is the reflector's store: the UIDs of the Events that exist. A
// UID in the usual UUID form costs its 16 bytes as a map key; any other is
// kept as a string. Each UID carries the list generation it was last seen
// in: a (re)list opens a generation (relist), every Event streamed or
// watched from then on is stamped with it, and the list's Replace drops
// what was not stamped, i.e. Events deleted while no watch ran. An Event
// that the intake saw after the list's end but before the reflector's
// Replace therefore stays, and the start-up's Replace needs no second map.
type eventSet struct {
	mu       sync.RWMutex
	gen      uint32
	uuids    map[[16]byte]uint32
	others   map[string]uint32
	syncOnce sync.Once
	synced   chan struct{} // closed by the first Replace: the initial Events were processed
	replaced func()        // when set, called after each Replace (Watcher.listEnded)
}

func newEventSet() *eventSet {
	return &eventSet{uuids: map[[16]byte]uint32{}, others: map[string]uint32{}, synced: make(chan struct{})}
}

// relist opens a list generation: a list or a watch with initial Events
// is about to start.
func (x *eventSet) relist() {
	x.mu.Lock()
	x.gen++
	x.mu.Unlock()
}

// uuidKey parses a UID of the form 8-4-4-4-12 lower-case hexadecimal
// digits, as the apiserver generates them (UIDs are compared as strings, so
// any other spelling is not folded into it).
func uuidKey(uid string) ([16]byte, bool) {
	var k [16]byte
	if len(uid) != 36 || uid[8] != '-' || uid[13] != '-' || uid[18] != '-' || uid[23] != '-' {
		return k, false
	}
	j := 0
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		hi, ok1 := unhex(uid[i])
		lo, ok2 := unhex(uid[i+1])
		if !ok1 || !ok2 {
			return k, false
		}
		k[j] = hi<<4 | lo
		j++
		i++
	}
	return k, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func stubUID(obj any) string {
	if s, ok := obj.(*eventStub); ok {
		return s.uid()
	}
	return ""
}

func (x *eventSet) insertLocked(uid string) {
	if k, ok := uuidKey(uid); ok {
		x.uuids[k] = x.gen
	} else if uid != "" {
		x.others[uid] = x.gen
	}
}

func (x *eventSet) insert(uid string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.insertLocked(uid)
}

// Add, Update, Delete, Replace and Resync make eventSet a
// toolscache.ReflectorStore.
func (x *eventSet) Add(obj any) error    { x.insert(stubUID(obj)); return nil }
func (x *eventSet) Update(obj any) error { x.insert(stubUID(obj)); return nil }
func (x *eventSet) Resync() error        { return nil }

func (x *eventSet) Delete(obj any) error {
	uid := stubUID(obj)
	x.mu.Lock()
	defer x.mu.Unlock()
	if k, ok := uuidKey(uid); ok {
		delete(x.uuids, k)
	} else {
		delete(x.others, uid)
	}
	return nil
}

// Replace is called with every Event after a (re)list; the first call
// ends the start-up.
func (x *eventSet) Replace(list []any, _ string) error {
	x.mu.Lock()
	for _, obj := range list {
		x.insertLocked(stubUID(obj))
	}
	for k, g := range x.uuids {
		if g != x.gen {
			delete(x.uuids, k)
		}
	}
	for k, g := range x.others {
		if g != x.gen {
			delete(x.others, k)
		}
	}
	x.mu.Unlock()
	if x.replaced != nil {
		x.replaced()
	}
	x.syncOnce.Do(func() { close(x.synced) })
	return nil
}

func (x *eventSet) has(uid types.UID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if k, ok := uuidKey(string(uid)); ok {
		_, found := x.uuids[k]
		return found
	}
	_, found := x.others[string(uid)]
	return found
}

func (x *eventSet) hasUUID(k [16]byte) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, found := x.uuids[k]
	return found
}

func (x *eventSet) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.uuids) + len(x.others)
}

func (x *eventSet) isSynced() bool {
	select {
	case <-x.synced:
		return true
	default:
		return false
	}
}

// EventIndex is fed every Event the intake sees, deletes included, before
// the Event is processed, so that an occurrence's own and earlier Events
// are indexed before its enrichment runs (relatedevents.Index).
type EventIndex interface {
	// Observe feeds one Event, in the stream's order.
	Observe(t watch.EventType, ev *corev1.Event)
	// Reset forgets everything: a (re)list starts, or the watch stopped.
	Reset()
	// MarkComplete says that every Event since the last Reset was fed.
	MarkComplete()
}

// intake is the one place an Event enters the pipeline: it is known to
// exist before it is processed (so a checkpoint written meanwhile keeps its
// mark), indexed, processed unless deleted, and reduced to its stub. Events
// seen before the first list completed count as found at start-up.
func (w *Watcher) intake(ctx context.Context, t watch.EventType, ev *corev1.Event) *eventStub {
	s := newEventStub(string(ev.UID), ev.ResourceVersion)
	if w.index != nil {
		w.index.Observe(t, ev)
	}
	if t == watch.Deleted {
		return s
	}
	w.eventSet.insert(s.uid())
	w.onEvent(ctx, reduceEvent(ev), !w.eventSet.isSynced())
	return s
}

// relist is told that a list (or a watch with initial Events) starts: it
// opens a list generation and resets the index, which is complete again
// once the list's Replace is done.
func (w *Watcher) relist() {
	w.eventSet.relist()
	if w.index != nil {
		w.index.Reset()
	}
	if w.opts.OnList != nil {
		w.opts.OnList(true)
	}
}

// listEnded is told that a list's Events were all processed (Replace).
func (w *Watcher) listEnded() {
	if w.index != nil {
		w.index.MarkComplete()
	}
	if w.opts.OnList != nil {
		w.opts.OnList(false)
	}
}

// eventListWatch lists and watches Events, hands each one to intake and
// passes its stub on, tells relist when a list (or a watch with initial
// Events) starts, and records watch activity: openings, Events and
// bookmarks (which no store sees).
func eventListWatch(kube kubernetes.Interface, tweak func(*metav1.ListOptions), a *watchActivity,
	intake func(watch.EventType, *corev1.Event) *eventStub, relist func()) *toolscache.ListWatch {
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			if o.Continue == "" {
				relist()
			}
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
			if o.SendInitialEvents != nil && *o.SendInitialEvents {
				relist()
			}
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

// ownEvents leaves out, on the server, the Events about the controller's
// own objects (at least one per delivery, on its Remediation record), which
// onEvent ignores anyway: the apiserver neither encodes nor sends them, and
// the intake neither decodes nor keeps them. It is not derived from
// policies (decision 9 (docs/design/decisions.md#d9)); Events about another version of the
// group, should one exist, still reach onEvent's check.
var ownEvents = fields.OneTermNotEqualSelector("involvedObject.apiVersion", v1alpha1.GroupVersion.String())

// eventFieldSelector is the Event watch's server-side field selector:
// ownEvents, and the fixed Options.EventFieldSelector when set.
func eventFieldSelector(fixed string) string {
	if fixed == "" {
		return ownEvents.String()
	}
	return ownEvents.String() + "," + fixed
}

// newEventReflector builds the reflector that drives the intake into the
// watcher's eventSet.
func (w *Watcher) newEventReflector(ctx context.Context, kube kubernetes.Interface, tweak func(*metav1.ListOptions)) *toolscache.Reflector {
	lw := eventListWatch(kube, tweak, w.activity, func(t watch.EventType, ev *corev1.Event) *eventStub { return w.intake(ctx, t, ev) },
		w.relist)
	r := toolscache.NewReflectorWithOptions(lw, nil, w.eventSet, toolscache.ReflectorOptions{Name: "dot-ai-events"})
	r.WatchListPageSize = listPageSize
	return r
}
