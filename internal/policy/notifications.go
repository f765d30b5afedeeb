package policy

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// DestinationKind names a notification destination's kind, as it appears in
// metrics labels, conditions and Events (never the URL).
type DestinationKind string

// The destination kinds, named like their spec fields.
const (
	DestinationSlack      DestinationKind = "slack"
	DestinationGoogleChat DestinationKind = "googleChat"
	DestinationWebhook    DestinationKind = "webhook"
)

// Destination is one notification destination of a policy with defaults
// applied.
type Destination struct {
	Kind             DestinationKind
	SecretRef        v1alpha1.SecretKeyReference
	NotifyOnStart    bool
	NotifyOnComplete bool
	// Outcomes are the notified outcome kinds; empty means all.
	Outcomes []v1alpha1.NotificationOutcomeKind
	// MinRisk skips outcomes with a lower risk; empty means none skipped.
	MinRisk v1alpha1.RiskLevel
}

// destinations lists a spec's destinations with their field names, in a
// stable order.
func destinations(n *v1alpha1.Notifications) []struct {
	kind DestinationKind
	d    *v1alpha1.NotificationDestination
} {
	if n == nil {
		return nil
	}
	type entry = struct {
		kind DestinationKind
		d    *v1alpha1.NotificationDestination
	}
	var out []entry
	for _, e := range []entry{{DestinationSlack, n.Slack}, {DestinationGoogleChat, n.GoogleChat}, {DestinationWebhook, n.Webhook}} {
		if e.d != nil {
			out = append(out, e)
		}
	}
	return out
}

// ResolveNotifications returns p's notification destinations with the
// installation's defaults applied to what the spec leaves empty.
// Destinations without a Secret reference (refused at admission) are left
// out.
func ResolveNotifications(p *v1alpha1.RemediationPolicy, s *config.Settings) []Destination {
	var out []Destination
	for _, e := range destinations(p.Spec.Notifications) {
		if e.d.WebhookURLSecretRef == nil || e.d.WebhookURL != "" {
			continue
		}
		d := Destination{
			Kind:             e.kind,
			SecretRef:        *e.d.WebhookURLSecretRef,
			NotifyOnStart:    valueOr(e.d.NotifyOnStart, s.Defaults.NotifyOnStart),
			NotifyOnComplete: valueOr(e.d.NotifyOnComplete, s.Defaults.NotifyOnComplete),
		}
		if f := e.d.Filter; f != nil {
			d.Outcomes, d.MinRisk = f.Outcomes, f.MinRisk
		}
		out = append(out, d)
	}
	return out
}

// defaultNotifications fills notifyOnStart and notifyOnComplete of every
// destination from the chart's policyDefaults.
func defaultNotifications(d config.PolicyDefaults, n *v1alpha1.Notifications) {
	for _, e := range destinations(n) {
		setBool(&e.d.NotifyOnStart, d.NotifyOnStart)
		setBool(&e.d.NotifyOnComplete, d.NotifyOnComplete)
	}
}

// validateNotifications refuses plain-text URLs and destinations without a
// Secret reference: a webhook URL is a credential (decision 21 (docs/design/decisions.md#d21)
// (docs/design/decisions.md#d21)).
func validateNotifications(n *v1alpha1.Notifications, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, e := range destinations(n) {
		p := path.Child(string(e.kind))
		if e.d.WebhookURL != "" {
			// The value is a credential: never echo it.
			errs = append(errs, field.Forbidden(p.Child("webhookUrl"), MsgNotificationURLPlain))
		}
		if e.d.WebhookURLSecretRef == nil {
			errs = append(errs, field.Required(p.Child("webhookUrlSecretRef"), MsgNotificationSecretRequired))
		}
	}
	return errs
}
