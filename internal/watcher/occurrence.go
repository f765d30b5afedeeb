package watcher

import (
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
