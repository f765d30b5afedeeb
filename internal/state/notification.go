package state

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// ComponentNotification labels notification message intents.
const ComponentNotification = "notification"

const notificationPrefix = "notification-"

// NotificationName is the name of a notification message's intent.
func NotificationName(messageID string) string { return notificationPrefix + messageID }

// CreateNotification writes the intent of a notification message before it
// is sent. An existing intent of the same message is an error: the message
// may have been sent.
func (s *Store) CreateNotification(ctx context.Context, ref v1alpha1.StatePolicyReference, in *v1alpha1.NotificationIntentState) error {
	obj := &v1alpha1.ControllerState{
		ObjectMeta: s.meta(NotificationName(in.MessageID), ComponentNotification, ref.UID),
		Spec:       v1alpha1.ControllerStateSpec{FormatVersion: v1alpha1.CurrentStateFormat, Policy: ref, Notification: in},
	}
	return s.Writer.Create(ctx, obj)
}

// Notifications lists the notification intents of every policy.
func (s *Store) Notifications(ctx context.Context) ([]v1alpha1.ControllerState, error) {
	var list v1alpha1.ControllerStateList
	if err := s.Reader.List(ctx, &list, client.InNamespace(s.Namespace),
		client.MatchingLabels{LabelManagedBy: ManagedBy, LabelComponent: ComponentNotification}); err != nil {
		return nil, err
	}
	out := list.Items[:0]
	for _, o := range list.Items {
		if o.Spec.Notification != nil {
			out = append(out, o)
		}
	}
	return out, nil
}

// DeleteNotification removes a message's intent once its items are counted.
func (s *Store) DeleteNotification(ctx context.Context, messageID string) error {
	obj := &v1alpha1.ControllerState{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: NotificationName(messageID)}}
	return client.IgnoreNotFound(s.Writer.Delete(ctx, obj))
}
