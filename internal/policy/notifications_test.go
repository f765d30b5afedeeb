package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"dot-ai.io/controller/api/v1alpha1"
)

const chatURL = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=SECRET"

func TestValidateNotifications(t *testing.T) {
	ref := &v1alpha1.SecretKeyReference{Name: "chat", Key: "url"}
	np := specPath.Child("notifications")
	tests := []struct {
		name string
		n    *v1alpha1.Notifications
		errs field.ErrorList
	}{
		{name: "none"},
		{name: "secret refs", n: &v1alpha1.Notifications{
			Slack: &v1alpha1.NotificationDestination{WebhookURLSecretRef: ref},
			Webhook: &v1alpha1.NotificationDestination{WebhookURLSecretRef: ref,
				Filter: &v1alpha1.NotificationFilter{Outcomes: []v1alpha1.NotificationOutcomeKind{v1alpha1.NotifyFailures}, MinRisk: v1alpha1.RiskMedium}},
		}},
		{
			name: "plain URL refused without echoing it, pointing to webhookUrlSecretRef",
			n:    &v1alpha1.Notifications{GoogleChat: &v1alpha1.NotificationDestination{WebhookURL: chatURL, WebhookURLSecretRef: ref}},
			errs: field.ErrorList{field.Forbidden(np.Child("googleChat", "webhookUrl"), MsgNotificationURLPlain)},
		},
		{
			name: "plain URL alone: refused and the Secret is required",
			n:    &v1alpha1.Notifications{Slack: &v1alpha1.NotificationDestination{WebhookURL: chatURL}},
			errs: field.ErrorList{
				field.Forbidden(np.Child("slack", "webhookUrl"), MsgNotificationURLPlain),
				field.Required(np.Child("slack", "webhookUrlSecretRef"), MsgNotificationSecretRequired),
			},
		},
		{
			name: "filter values mirror the schema's enums",
			n: &v1alpha1.Notifications{Slack: &v1alpha1.NotificationDestination{WebhookURLSecretRef: ref,
				Filter: &v1alpha1.NotificationFilter{Outcomes: []v1alpha1.NotificationOutcomeKind{"everything"}, MinRisk: "extreme"}}},
			errs: field.ErrorList{
				field.NotSupported(np.Child("slack", "filter", "outcomes").Index(0), any("everything"), []string{"analyses", "remediations", "failures"}),
				field.NotSupported(np.Child("slack", "filter", "minRisk"), any("extreme"), []string{"low", "medium", "high"}),
			},
		},
		{
			name: "secret ref names are checked like mcpAuthSecretRef",
			n: &v1alpha1.Notifications{Webhook: &v1alpha1.NotificationDestination{
				WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "My_Hook", Key: "url"}}},
			errs: field.ErrorList{field.Invalid(np.Child("webhook", "webhookUrlSecretRef", "name"), "My_Hook",
				"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")},
		},
		{
			name: "empty destination",
			n:    &v1alpha1.Notifications{Webhook: &v1alpha1.NotificationDestination{}},
			errs: field.ErrorList{field.Required(np.Child("webhook", "webhookUrlSecretRef"), MsgNotificationSecretRequired)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPolicy()
			p.Spec.Notifications = tc.n
			errs, _ := Validate(testSettings(), nil, p)
			assert.Equal(t, tc.errs, errs)
			for _, e := range errs {
				assert.NotContains(t, e.Error(), "SECRET", "a field error must not echo the URL")
			}
		})
	}
}

func TestNotificationDefaultsAndResolve(t *testing.T) {
	ref := &v1alpha1.SecretKeyReference{Name: "chat", Key: "url"}
	s := testSettings()
	s.Defaults.NotifyOnStart, s.Defaults.NotifyOnComplete = true, false
	p := validPolicy()
	p.Spec.Notifications = &v1alpha1.Notifications{
		Slack:      &v1alpha1.NotificationDestination{WebhookURLSecretRef: ref},
		GoogleChat: &v1alpha1.NotificationDestination{WebhookURLSecretRef: ref, NotifyOnStart: new(false), NotifyOnComplete: new(true)},
	}
	// Resolve applies the installation's defaults to a policy that skipped
	// the defaulting webhook, and Default writes the same values.
	want := []Destination{
		{Kind: DestinationSlack, SecretRef: *ref, NotifyOnStart: true, NotifyOnComplete: false},
		{Kind: DestinationGoogleChat, SecretRef: *ref, NotifyOnStart: false, NotifyOnComplete: true},
	}
	assert.Equal(t, want, ResolveNotifications(p, s))
	Default(s, p)
	assert.Equal(t, new(true), p.Spec.Notifications.Slack.NotifyOnStart)
	assert.Equal(t, new(false), p.Spec.Notifications.Slack.NotifyOnComplete)
	assert.Equal(t, new(false), p.Spec.Notifications.GoogleChat.NotifyOnStart)
	assert.Equal(t, want, ResolveNotifications(p, testSettings()))
}
