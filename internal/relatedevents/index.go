// Package relatedevents answers the enricher's related-events lookups
// (enricher.EventSource) from a bounded index fed by the watcher's Event
// intake, so that an enrichment costs no LIST of Events: kube-apiserver has
// no watch cache for Events by default, and each such LIST decodes every
// Event of the namespace from etcd. What the index cannot vouch for goes to
// a fallback source (enricher.APIEvents). Design and bounds:
// docs/design/related-events.md.
package relatedevents

import (
	"cmp"
	"context"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/eventtime"
)

// Defaults of Options.
const (
	// DefaultPerObject keeps enough of an object's newest events for the
	// enricher's default related events plus the event being enriched.
	DefaultPerObject = enricher.DefaultMaxRelatedEvents + 1
	// DefaultMaxBytes bounds the index's memory (accounted as below):
	// about 7,000 kubelet-sized Events, the related events of about 1,000
	// crash-looping Pods at once (make bench-enrich). What it adds to the
	// peak RSS at start-up counts against the 100 MiB at 100,000 Events of
	// issue 20.
	DefaultMaxBytes = 2 << 20
)

// Accounting: what an indexed event and an object entry cost beyond their
// strings' bytes (the struct, its share of the slice's spare capacity and
// the allocation's rounding; the entry, its map slot), measured so that the
// live heap matches the accounted bytes (BenchmarkIndexLiveBytes).
const (
	recordOverhead = 112
	entryOverhead  = 256
	// maxMessageBytes cuts a stored message: twice the enricher's 4 KiB
	// ellipsis, so that what it redacts and cuts reads the same text.
	maxMessageBytes = 8 << 10
)

// Options configure an Index.
type Options struct {
	// Fallback answers what the index cannot (enricher.APIEvents in the
	// controller). Required.
	Fallback enricher.EventSource
	// PerObject bounds the events kept per object, the newest by event
	// time. Default DefaultPerObject; it must not be below the enricher's
	// MaxRelatedEvents + 1.
	PerObject int
	// MaxBytes bounds the accounted memory of the indexed events; beyond it
	// objects are evicted whole, those no lookup read first (lru.go). Default
	// DefaultMaxBytes.
	MaxBytes int
}

// key is an involved object as the field selector of a LIST names it: the
// Event's namespace, the object's kind and name (apiVersion ignored).
type key struct{ namespace, kind, name string }

// clone copies k's strings into one allocation, as a record's.
func (k key) clone() key {
	s := k.namespace + k.kind + k.name
	a, b := len(k.namespace), len(k.namespace)+len(k.kind)
	return key{namespace: s[:a], kind: s[a:b], name: s[b:]}
}

// record is what the enricher reads of an Event. Its strings are copied
// into one allocation: a kept Event pins none of the decoded Event's
// allocations, and costs one instead of six.
type record struct {
	data        string    // the fields in the order below, concatenated
	ends        [5]uint32 // where each field but the last ends in data
	first, last int64     // Unix nanoseconds; 0: unset
	count       int32
}

// The fields of record.data.
const (
	fieldUID = iota
	fieldName
	fieldType
	fieldReason
	fieldSource
	fieldMessage
)

func newRecord(fields [fieldMessage + 1]string) record {
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	var b strings.Builder
	b.Grow(n)
	var r record
	for i, f := range fields {
		b.WriteString(f)
		if i < len(r.ends) {
			r.ends[i] = uint32(b.Len())
		}
	}
	r.data = b.String()
	return r
}

func (r *record) field(i int) string {
	start, end := uint32(0), uint32(len(r.data))
	if i > 0 {
		start = r.ends[i-1]
	}
	if i < len(r.ends) {
		end = r.ends[i]
	}
	return r.data[start:end]
}

func (r *record) bytes() int { return recordOverhead + len(r.data) }

// entry is one object's newest events, a node of its LRU segment.
type entry struct {
	key    key
	events []record
	// dropped counts this object's events the per-object cap dropped that
	// still exist: while there are any, deleting a kept one would let a
	// dropped one back into the newest, which the index no longer has.
	dropped    int
	bytes      int
	prev, next *entry   // in seg
	seg        *segment // nil: not linked
	// filling: an evicted object being taken back in (readmit): the watch
	// feeds it while its fallback list runs, and it answers nothing until
	// the list is merged. deleted are the UIDs the watch deleted meanwhile,
	// which the list may still hold.
	filling bool
	deleted map[string]struct{}
}

// Index is a bounded index of the cluster's Events by involved object. It
// answers a lookup only while it is complete (it has seen every Event since
// its last reset: the watcher's list ended, MarkComplete, and no relist
// started since, Reset) and the object was not evicted since the reset.
// Safe for concurrent use.
type Index struct {
	opts Options

	mu       sync.Mutex
	complete bool
	entries  map[key]*entry
	// probation holds the objects no lookup has read since they came in
	// (or were demoted), protected those a lookup read (lru.go).
	probation, protected segment
	bytes                int
	count                int
	evicted              *evictedKeys
}

// New returns an empty, incomplete Index.
func New(o Options) *Index {
	if o.PerObject <= 0 {
		o.PerObject = DefaultPerObject
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	return &Index{opts: o, entries: map[key]*entry{}, evicted: newEvictedKeys()}
}

// Reset forgets every Event and makes the index incomplete: a list (or a
// watch with initial Events) starts, or the watch stopped.
func (x *Index) Reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.complete = false
	clear(x.entries)
	x.probation, x.protected = segment{}, segment{}
	x.bytes, x.count = 0, 0
	x.evicted.clear()
	metricIndexed.Set(0)
}

// MarkComplete records that every existing Event was observed since the
// last Reset (the list ended).
func (x *Index) MarkComplete() {
	x.mu.Lock()
	x.complete = true
	x.mu.Unlock()
}

// Observe feeds one Event of the watch or list, in the stream's order.
func (x *Index) Observe(t watch.EventType, ev *corev1.Event) {
	k := key{namespace: ev.Namespace, kind: ev.InvolvedObject.Kind, name: ev.InvolvedObject.Name}
	if notIndexed(k.kind) {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.complete {
		// An Event of the list that (re)starts the index: its object is
		// listed when first looked up, and taken in then (readmit), rather
		// than held from the start, since the list is the controller's
		// memory peak and most of its objects are never looked up.
		x.evicted.add(k)
		return
	}
	e := x.entries[k]
	if e == nil && x.evicted.mayContain(k) {
		return // answered by the fallback until a lookup takes it back in
	}
	switch t {
	case watch.Added, watch.Modified:
		if e == nil {
			k = k.clone()
			e = &entry{key: k}
			x.entries[k] = e
			x.resize(e, entryOverhead+len(k.namespace)+len(k.kind)+len(k.name))
		}
		x.touch(e)
		x.upsert(e, t, reduce(ev))
		for x.bytes > x.opts.MaxBytes {
			v := x.victim(e)
			if v == nil {
				break
			}
			x.evict(v)
		}
	case watch.Deleted:
		if e == nil {
			return
		}
		i := e.find(string(ev.UID))
		if e.filling {
			e.deleted[string(ev.UID)] = struct{}{}
		}
		switch {
		case i < 0:
			e.dropped = max(e.dropped-1, 0)
		case e.dropped > 0:
			x.evict(e)
		default:
			x.removeAt(e, i)
			if len(e.events) == 0 {
				x.unlink(e)
			}
		}
	}
	metricIndexed.Set(float64(x.count))
}

// upsert updates r in place by UID or adds it, then keeps the newest
// PerObject events.
func (x *Index) upsert(e *entry, t watch.EventType, r record) {
	if i := e.find(r.field(fieldUID)); i >= 0 {
		x.resize(e, r.bytes()-e.events[i].bytes())
		e.events[i] = r
		return
	}
	if t == watch.Modified && e.dropped > 0 {
		e.dropped-- // a dropped event, now updated: it is back
	}
	e.events = append(e.events, r)
	x.resize(e, r.bytes())
	x.count++
	if len(e.events) > x.opts.PerObject {
		oldest := 0
		for i := range e.events {
			if e.events[i].last < e.events[oldest].last {
				oldest = i
			}
		}
		x.removeAt(e, oldest)
		e.dropped++
	}
}

func (e *entry) find(uid string) int {
	for i := range e.events {
		if e.events[i].field(fieldUID) == uid {
			return i
		}
	}
	return -1
}

func (x *Index) removeAt(e *entry, i int) {
	x.resize(e, -e.events[i].bytes())
	x.count--
	last := len(e.events) - 1
	e.events[i] = e.events[last]
	e.events[last] = record{}
	e.events = e.events[:last]
}

// evict drops an object whose kept events may no longer be all of its
// newest: its lookups go to the fallback until the next reset.
func (x *Index) evict(e *entry) {
	x.evicted.add(e.key)
	x.unlink(e)
	metricEvictions.Inc()
}

// unlink removes e from the map, its segment and the accounting.
func (x *Index) unlink(e *entry) {
	delete(x.entries, e.key)
	if e.seg != nil {
		e.seg.remove(e)
	}
	x.bytes -= e.bytes
	x.count -= len(e.events)
}

// notIndexed are the kinds whose Events the index leaves to the fallback:
// the controller's own Events on its Remediation records, one object each,
// many in a storm and never the related events of what it enriches.
func notIndexed(kind string) bool { return kind == "Remediation" }

// EventsFor implements enricher.EventSource: from the index when it can
// vouch for the object, else from the fallback. The fallback's answer for
// an evicted object takes it back in (readmit), so eviction costs one list,
// not one per lookup.
func (x *Index) EventsFor(ctx context.Context, namespace, kind, name string) ([]*corev1.Event, error) {
	k := key{namespace: namespace, kind: kind, name: name}
	out, ok, readmit := x.lookup(k)
	if ok {
		metricLookups.WithLabelValues(resultHit).Inc()
		return out, nil
	}
	metricLookups.WithLabelValues(resultFallback).Inc()
	var e *entry
	if readmit {
		e = x.beginReadmit(k)
	}
	evs, err := x.opts.Fallback.EventsFor(ctx, namespace, kind, name)
	if e != nil {
		x.endReadmit(e, evs, err)
	}
	return evs, err
}

// lookup answers from the index, or says it cannot: incomplete, an
// evicted object (readmit: the fallback's list may take it back in), an
// object being taken back in, or all namespaces (a cluster-wide list).
func (x *Index) lookup(k key) (out []*corev1.Event, ok, readmit bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.complete || k.namespace == "" || notIndexed(k.kind) {
		return nil, false, false
	}
	e := x.entries[k]
	if e == nil {
		if x.evicted.mayContain(k) {
			return nil, false, true
		}
		return nil, true, false // no Event of it since the reset
	}
	if e.filling {
		return nil, false, false
	}
	x.promote(e)
	out = make([]*corev1.Event, len(e.events))
	for i := range e.events {
		out[i] = e.events[i].event(k)
	}
	return out, true, false
}

// beginReadmit starts taking evicted object k back in before its fallback
// list is sent: from now on the watch feeds its entry, so an Event that
// comes between the list and the merge is not lost. Nil if another lookup
// is taking it in already.
func (x *Index) beginReadmit(k key) *entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.complete || x.entries[k] != nil {
		return nil
	}
	k = k.clone()
	e := &entry{key: k, filling: true, deleted: map[string]struct{}{}}
	x.entries[k] = e
	x.resize(e, entryOverhead+len(k.namespace)+len(k.kind)+len(k.name))
	x.touch(e)
	return e
}

// endReadmit merges the fallback's list into e: what the watch fed
// meanwhile is as new or newer and stays, what it deleted meanwhile stays
// out. A failed list, a reset or an eviction meanwhile drops the entry (the
// object stays evicted).
func (x *Index) endReadmit(e *entry, evs []*corev1.Event, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.entries[e.key] != e {
		return // evicted, or reset (which empties the map), meanwhile
	}
	if err != nil {
		x.evict(e)
		return
	}
	for _, ev := range evs {
		uid := string(ev.UID)
		if _, gone := e.deleted[uid]; gone || e.find(uid) >= 0 {
			continue
		}
		x.upsert(e, watch.Added, reduce(ev))
	}
	e.filling, e.deleted = false, nil
	x.promote(e)
	for x.bytes > x.opts.MaxBytes {
		v := x.victim(e)
		if v == nil {
			break
		}
		x.evict(v)
	}
	metricReadmissions.Inc()
	metricIndexed.Set(float64(x.count))
}

// reduce keeps what the enricher reads of ev (its eventInfo and the
// lookback and order by eventtime.Of).
func reduce(ev *corev1.Event) record {
	msg := ev.Message
	if len(msg) > maxMessageBytes {
		msg = msg[:maxMessageBytes]
	}
	r := newRecord([...]string{
		fieldUID: string(ev.UID), fieldName: ev.Name, fieldType: ev.Type, fieldReason: ev.Reason,
		fieldSource: cmp.Or(ev.Source.Component, ev.ReportingController), fieldMessage: msg,
	})
	r.count = ev.Count
	if ev.Series != nil && ev.Series.Count > r.count {
		r.count = ev.Series.Count
	}
	if !ev.FirstTimestamp.IsZero() {
		r.first = ev.FirstTimestamp.UnixNano()
	}
	if t := eventtime.Of(ev); !t.IsZero() {
		r.last = t.UnixNano()
	}
	return r
}

// event rebuilds the fields of an Event that the enricher reads, with the
// event time as lastTimestamp.
func (r *record) event(k key) *corev1.Event {
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: k.namespace, Name: r.field(fieldName), UID: types.UID(r.field(fieldUID))},
		InvolvedObject: corev1.ObjectReference{Kind: k.kind, Name: k.name},
		Type:           r.field(fieldType), Reason: r.field(fieldReason), Message: r.field(fieldMessage), Count: r.count,
		Source: corev1.EventSource{Component: r.field(fieldSource)},
	}
	if r.first != 0 {
		ev.FirstTimestamp = metav1.NewTime(time.Unix(0, r.first))
	}
	if r.last != 0 {
		ev.LastTimestamp = metav1.NewTime(time.Unix(0, r.last))
	}
	return ev
}
