package watcher

import (
	corev1 "k8s.io/api/core/v1"

	"dot-ai.io/controller/internal/text"
)

// reduceEvent strips a decoded Event, in place, to what selection,
// deduplication and enrichment read, before it is selected and perhaps
// queued: labels, annotations, managedFields, ownerReferences, finalizers,
// related and the involved object's resourceVersion go, and the message is
// cut to maxMessageBytes. The Event is the intake's own copy (nothing caches
// Events, eventintake.go), so no copy is made; CEL sees the same shape at
// admission (docs/policies.md).
func reduceEvent(ev *corev1.Event) *corev1.Event {
	ev.Labels, ev.Annotations, ev.ManagedFields = nil, nil, nil
	ev.OwnerReferences, ev.Finalizers, ev.Related = nil, nil, nil
	ev.InvolvedObject.ResourceVersion = ""
	ev.Message = text.Truncate(ev.Message, maxMessageBytes)
	return ev
}
