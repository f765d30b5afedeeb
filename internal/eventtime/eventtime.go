// Package eventtime says when a Kubernetes Event last occurred: the one
// definition the watcher (policy start, deduplication) and the enricher
// (related-events lookback, the times it reports) share.
package eventtime

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Of is the time of ev's most recent occurrence: the latest of lastTimestamp,
// series.lastObservedTime and eventTime. Taking the latest rather than
// preferring one field covers both writers of core/v1 Events:
//
//   - the legacy recorder (client-go tools/record) sets firstTimestamp and
//     lastTimestamp and bumps lastTimestamp with count on every repeat;
//     eventTime and series stay unset;
//   - the events.k8s.io/v1 recorder (client-go tools/events) sets eventTime,
//     the first observation, and on repeats series.lastObservedTime;
//     its deprecated lastTimestamp is usually zero.
//
// A writer may set fields of both styles; any of them may then be stale, and
// none can be later than the newest occurrence, so the maximum is right.
// When none of the three is set, firstTimestamp and then the object's
// creationTimestamp stand in; the result is zero only if all are.
func Of(ev *corev1.Event) time.Time {
	t := ev.LastTimestamp.Time
	if ev.Series != nil && ev.Series.LastObservedTime.After(t) {
		t = ev.Series.LastObservedTime.Time
	}
	if ev.EventTime.After(t) {
		t = ev.EventTime.Time
	}
	if t.IsZero() {
		t = ev.FirstTimestamp.Time
	}
	if t.IsZero() {
		t = ev.CreationTimestamp.Time
	}
	return t
}
