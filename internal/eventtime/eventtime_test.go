package eventtime

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOf(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(1_700_000_000+s, 0) }
	ts := func(s int64) metav1.Time { return metav1.NewTime(at(s)) }
	mts := func(s int64) metav1.MicroTime { return metav1.NewMicroTime(at(s)) }
	series := func(s int64) *corev1.EventSeries { return &corev1.EventSeries{Count: 2, LastObservedTime: mts(s)} }
	created := metav1.ObjectMeta{CreationTimestamp: ts(0)}
	tests := []struct {
		name string
		ev   corev1.Event
		want time.Time
	}{
		{"nothing set is the zero time", corev1.Event{}, time.Time{}},
		{"only creationTimestamp", corev1.Event{ObjectMeta: created}, at(0)},
		{"firstTimestamp beats creationTimestamp", corev1.Event{ObjectMeta: created, FirstTimestamp: ts(1)}, at(1)},
		{"legacy recorder: lastTimestamp", corev1.Event{ObjectMeta: created, FirstTimestamp: ts(1), LastTimestamp: ts(5)}, at(5)},
		{"events.k8s.io/v1, first occurrence: eventTime", corev1.Event{ObjectMeta: created, EventTime: mts(3)}, at(3)},
		{"events.k8s.io/v1, repeated: series.lastObservedTime", corev1.Event{ObjectMeta: created, EventTime: mts(3), Series: series(9)}, at(9)},
		{"series with a zero lastObservedTime falls back to eventTime", corev1.Event{EventTime: mts(3), Series: &corev1.EventSeries{Count: 2}}, at(3)},
		{"a stale series.lastObservedTime loses to a later lastTimestamp", corev1.Event{LastTimestamp: ts(8), Series: series(4)}, at(8)},
		{"a stale lastTimestamp loses to a later series.lastObservedTime", corev1.Event{LastTimestamp: ts(4), Series: series(8)}, at(8)},
		{"a later eventTime beats lastTimestamp", corev1.Event{LastTimestamp: ts(4), EventTime: mts(6)}, at(6)},
		{"firstTimestamp is only a fallback, even when later", corev1.Event{FirstTimestamp: ts(7), EventTime: mts(2)}, at(2)},
		{"sub-second eventTime is kept", corev1.Event{LastTimestamp: ts(4), EventTime: metav1.NewMicroTime(at(4).Add(1500 * time.Microsecond))},
			at(4).Add(1500 * time.Microsecond)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Of(&tc.ev)
			assert.True(t, tc.want.Equal(got), "got %v, want %v", got, tc.want)
		})
	}
}
