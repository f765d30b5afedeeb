package watcher

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/internal/text"
)

// eventRecord is a core/v1 Event as the pipeline holds it while it selects
// it and while it waits in the queue: the fields selection, deduplication
// and enrichment read, with times as Unix nanoseconds and the repeated
// strings (namespace, kinds, reasons, the involved object, the reporting
// component) shared through an intern pool. A corev1.Event is a 600-byte
// struct before its strings; this one is about half that. Events are not
// cached (eventintake.go).
//
// Labels, annotations, managedFields, ownerReferences, related and the
// involved object's resourceVersion are not kept; messages are cut to
// maxMessageBytes.
type eventRecord struct {
	name, namespace, uid, resourceVersion string

	involvedKind, involvedAPIVersion, involvedNamespace string
	involvedName, involvedUID, involvedFieldPath        string

	reason, message, eventType, action string

	sourceComponent, sourceHost            string
	reportingController, reportingInstance string

	// Unix nanoseconds; 0 is the zero time.
	created, first, last, eventTime, seriesLast int64

	count, seriesCount int32
	hasSeries          bool
}

// newEventRecord reduces ev to the cached record.
func newEventRecord(ev *corev1.Event) *eventRecord {
	r := &eventRecord{
		name:                ev.Name,
		namespace:           interned.get(ev.Namespace),
		uid:                 string(ev.UID),
		resourceVersion:     ev.ResourceVersion,
		involvedKind:        interned.get(ev.InvolvedObject.Kind),
		involvedAPIVersion:  interned.get(ev.InvolvedObject.APIVersion),
		involvedNamespace:   interned.get(ev.InvolvedObject.Namespace),
		involvedName:        interned.get(ev.InvolvedObject.Name),
		involvedUID:         interned.get(string(ev.InvolvedObject.UID)),
		involvedFieldPath:   interned.get(ev.InvolvedObject.FieldPath),
		reason:              interned.get(ev.Reason),
		message:             text.Truncate(ev.Message, maxMessageBytes),
		eventType:           interned.get(ev.Type),
		action:              interned.get(ev.Action),
		sourceComponent:     interned.get(ev.Source.Component),
		sourceHost:          interned.get(ev.Source.Host),
		reportingController: interned.get(ev.ReportingController),
		reportingInstance:   interned.get(ev.ReportingInstance),
		created:             unixNano(ev.CreationTimestamp.Time),
		first:               unixNano(ev.FirstTimestamp.Time),
		last:                unixNano(ev.LastTimestamp.Time),
		eventTime:           unixNano(ev.EventTime.Time),
		count:               ev.Count,
	}
	if ev.Series != nil {
		r.hasSeries = true
		r.seriesCount = ev.Series.Count
		r.seriesLast = unixNano(ev.Series.LastObservedTime.Time)
	}
	return r
}

// event rebuilds a corev1.Event from the record. The strings are shared with
// the record, so the result must be treated as read-only, like any object
// from an informer cache.
func (r *eventRecord) event() *corev1.Event {
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name: r.name, Namespace: r.namespace, UID: types.UID(r.uid), ResourceVersion: r.resourceVersion,
			CreationTimestamp: metav1.Time{Time: fromUnixNano(r.created)},
		},
		InvolvedObject: corev1.ObjectReference{
			Kind: r.involvedKind, APIVersion: r.involvedAPIVersion, Namespace: r.involvedNamespace,
			Name: r.involvedName, UID: types.UID(r.involvedUID), FieldPath: r.involvedFieldPath,
		},
		Reason:              r.reason,
		Message:             r.message,
		Type:                r.eventType,
		Action:              r.action,
		Source:              corev1.EventSource{Component: r.sourceComponent, Host: r.sourceHost},
		ReportingController: r.reportingController,
		ReportingInstance:   r.reportingInstance,
		FirstTimestamp:      metav1.Time{Time: fromUnixNano(r.first)},
		LastTimestamp:       metav1.Time{Time: fromUnixNano(r.last)},
		EventTime:           metav1.MicroTime{Time: fromUnixNano(r.eventTime)},
		Count:               r.count,
	}
	if r.hasSeries {
		ev.Series = &corev1.EventSeries{Count: r.seriesCount, LastObservedTime: metav1.MicroTime{Time: fromUnixNano(r.seriesLast)}}
	}
	return ev
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// internPool shares equal strings between cached records. It is bounded:
// when full it starts over, so a cluster with more distinct values than
// the bound only shares less.
type internPool struct {
	mu     sync.Mutex
	values map[string]string
	max    int
}

// internPoolSize bounds the pool to a few MiB; it covers the involved
// objects of a cluster with thousands of Pods.
const internPoolSize = 1 << 15

var interned = &internPool{values: map[string]string{}, max: internPoolSize}

func (p *internPool) get(s string) string {
	if s == "" {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.values[s]; ok {
		return v
	}
	if len(p.values) >= p.max {
		clear(p.values)
	}
	p.values[s] = s
	return s
}
