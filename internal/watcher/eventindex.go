package watcher

import (
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// EventIndex answers the two questions the cache is asked besides "next
// event": which Events does an object have (related events for enrichment),
// and does an Event still exist (checkpoint pruning). The Event informer's
// handlers keep it, in the order the informer delivers changes. An informer
// indexer would cost a map per involved object and per UID, more than the
// records themselves when most objects have one or two Events; this costs a
// slice entry and a set entry per Event.
type EventIndex struct {
	mu       sync.RWMutex
	byObject map[string][]*eventRecord // involvedKey → records
	uids     map[types.UID]struct{}
}

// NewEventIndex returns an empty index. Build it first and give it to both
// the watcher (New), whose Event handlers fill it, and the enricher, which
// reads related events from it.
func NewEventIndex() *EventIndex {
	return &EventIndex{byObject: map[string][]*eventRecord{}, uids: map[types.UID]struct{}{}}
}

// objectKey is the record's involved object as involvedKey builds it; an
// object without a namespace is taken to be in the Event's.
func (r *eventRecord) objectKey() string {
	ns := r.involvedNamespace
	if ns == "" {
		ns = r.namespace
	}
	return involvedKey(ns, r.involvedKind, r.involvedName)
}

// add indexes a new Event. An Event already indexed (a handler registered
// again replays the cache as adds) is replaced, not added twice.
func (x *EventIndex) add(r *eventRecord) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, known := x.uids[types.UID(r.uid)]; known {
		x.replaceLocked(nil, r)
		return
	}
	k := r.objectKey()
	x.byObject[k] = append(x.byObject[k], r)
	x.uids[types.UID(r.uid)] = struct{}{}
}

// update replaces old by r (an Event's new occurrence or other change; its
// involved object does not change).
func (x *EventIndex) update(old, r *eventRecord) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.replaceLocked(old, r)
}

func (x *EventIndex) replaceLocked(old, r *eventRecord) {
	k := r.objectKey()
	list := x.byObject[k]
	for i, e := range list {
		if e == old || e.uid == r.uid {
			list[i] = r
			return
		}
	}
	x.byObject[k] = append(list, r)
	x.uids[types.UID(r.uid)] = struct{}{}
}

// remove forgets a deleted Event.
func (x *EventIndex) remove(r *eventRecord) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.uids, types.UID(r.uid))
	k := r.objectKey()
	list := x.byObject[k]
	for i, e := range list {
		if e.uid == r.uid {
			last := len(list) - 1
			list[i], list[last] = list[last], nil
			list = list[:last]
			break
		}
	}
	if len(list) == 0 {
		delete(x.byObject, k)
	} else {
		x.byObject[k] = list
	}
}

// forObject returns the records of one involved object.
func (x *EventIndex) forObject(key string) []*eventRecord {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return slices.Clone(x.byObject[key])
}

func (x *EventIndex) has(uid types.UID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.uids[uid]
	return ok
}

// EventsFor returns the indexed Events whose involvedObject is the given
// object (apiVersion ignored), in any order. It satisfies the enricher's
// EventSource, so enrichment needs no API call per event.
func (x *EventIndex) EventsFor(namespace, kind, name string) []*corev1.Event {
	records := x.forObject(involvedKey(namespace, kind, name))
	out := make([]*corev1.Event, 0, len(records))
	for _, r := range records {
		out = append(out, r.event())
	}
	return out
}

// involvedKey keys the index by involved object.
func involvedKey(ns, kind, name string) string { return ns + "/" + kind + "/" + name }
