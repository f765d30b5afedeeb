package watcher

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/internal/eventtime"
)

func TestReduceEvent(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(1_700_000_000+s, 0) }
	full := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1.17a", Namespace: "team-a", UID: "e-uid", ResourceVersion: "42",
			CreationTimestamp: metav1.NewTime(at(0))},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "team-a", Name: "web-1",
			UID: "p-uid", FieldPath: "spec.containers{app}"},
		Reason: "BackOff", Message: "Back-off restarting failed container", Type: corev1.EventTypeWarning, Action: "Restart",
		Source:              corev1.EventSource{Component: "kubelet", Host: "node-1"},
		ReportingController: "kubelet", ReportingInstance: "node-1",
		FirstTimestamp: metav1.NewTime(at(1)), LastTimestamp: metav1.NewTime(at(2)),
		EventTime: metav1.NewMicroTime(at(3).Add(1500 * time.Microsecond)), Count: 7,
		Series: &corev1.EventSeries{Count: 9, LastObservedTime: metav1.NewMicroTime(at(4))},
	}
	tests := []struct {
		name string
		in   *corev1.Event
		want *corev1.Event
	}{
		{"every kept field survives", full, full},
		{"zero times and no series stay unset", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}, Reason: "X"},
			&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}, Reason: "X"}},
		{
			"labels, annotations, managed fields, owners, related and the object's resourceVersion are dropped",
			func() *corev1.Event {
				ev := full.DeepCopy()
				ev.Labels = map[string]string{"a": "b"}
				ev.Annotations = map[string]string{"c": "d"}
				ev.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
				ev.OwnerReferences = []metav1.OwnerReference{{Name: "o"}}
				ev.Related = &corev1.ObjectReference{Name: "r"}
				ev.InvolvedObject.ResourceVersion = "9"
				return ev
			}(),
			full,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := reduceEvent(tc.in.DeepCopy())
			assert.Equal(t, tc.want, got)
			assert.Equal(t, occurrenceCount(tc.want), occurrenceCount(got))
			assert.True(t, eventtime.Of(tc.want).Equal(eventtime.Of(got)))
		})
	}
}

func TestReduceEventBoundsTheMessageOnARuneBoundary(t *testing.T) {
	tests := []struct {
		name    string
		message string
		wantLen int
	}{
		{"short message kept", "short", 5},
		{"ASCII cut at the bound", strings.Repeat("a", 5000), maxMessageBytes},
		{"a 3-byte rune across the bound is dropped whole", strings.Repeat("a", maxMessageBytes-1) + "€€", maxMessageBytes - 1},
		{"invalid UTF-8 before the bound is kept as is", "\xff" + strings.Repeat("a", 5000), maxMessageBytes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := reduceEvent(&corev1.Event{Message: tc.message}).Message
			assert.Len(t, got, tc.wantLen)
			assert.True(t, strings.HasPrefix(tc.message, got))
		})
	}
}
