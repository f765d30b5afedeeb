package watcher

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// occurrenceCount is the event's occurrence number: series.count when the
// event uses series, else count, at least 1.
func occurrenceCount(ev *corev1.Event) int32 {
	n := ev.Count
	if ev.Series != nil && ev.Series.Count > n {
		n = ev.Series.Count
	}
	if n < 1 {
		n = 1
	}
	return n
}

// eventTime is when the event last occurred.
func eventTime(ev *corev1.Event) time.Time {
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
