package policy

import (
	"fmt"
	"slices"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// AccessCheck is one thing the user who creates or updates a policy must be
// allowed to do themselves, because the controller would otherwise do it on
// their behalf with its own, wider rights (decision 20 (docs/design/decisions.md#d20)
// (docs/design/decisions.md#d20): no confused deputy).
type AccessCheck struct {
	// Attributes are what a SubjectAccessReview asks about. Namespace ""
	// means every namespace.
	Attributes authorizationv1.ResourceAttributes
	// Field is the setting that needs the access; a refusal is reported
	// there.
	Field *field.Path
	// Reason says why the policy needs it, for the rejection message.
	Reason string
}

// Describe names the access for a message: "get secrets \"x\" in namespace
// \"a\"", "list events in all namespaces".
func (c AccessCheck) Describe() string {
	a := c.Attributes
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	if a.Group != "" {
		res += "." + a.Group
	}
	if a.Name != "" {
		res += fmt.Sprintf(" %q", a.Name)
	}
	where := "in all namespaces"
	if a.Namespace != "" {
		where = fmt.Sprintf("in namespace %q", a.Namespace)
	}
	return a.Verb + " " + res + " " + where
}

// Why the checks are needed, for the rejection messages (docs/security.md
// explains them).
const (
	ReasonSecretRef     = "its value is sent as the Bearer token"
	ReasonEvents        = "a policy naming its own mcpEndpoint (or a dryRun policy, into its status) exports the matching Events and related Events"
	ReasonObjects       = "a policy naming its own mcpEndpoint (or a dryRun policy, into its status) exports the involved object's state, its owners and their Pods' states"
	ReasonLogs          = "a policy naming its own mcpEndpoint (or a dryRun policy, into its status) exports container logs"
	ReasonMetrics       = "a policy naming its own mcpEndpoint (or a dryRun policy, into its status) exports Pod metrics"
	ReasonNotifySecret  = "its value is the URL notifications are sent to"
	ReasonNotifyLogs    = "notifications carry dot-ai's analysis, which is derived from container logs, to a destination the policy names"
	ReasonAllNamespaces = "; a namespaceSelector policy needs it in all namespaces, since namespaces labelled later join it"
)

// AccessChecks lists what the user writing p must be allowed to do
// (decision 20 (docs/design/decisions.md#d20)), deduplicated, in a stable order:
//
//   - get on the Secret spec.mcpAuthSecretRef names, in the policy's
//     namespace, whatever the endpoint: otherwise a user who cannot read a
//     Secret could have the controller send its value to any endpoint;
//   - when the policy names its own mcpEndpoint (the installation's endpoint,
//     left empty, is the operator's, not the user's): list events, get on
//     every gathered resource, get pods/log when logs are gathered and get
//     pods.metrics.k8s.io when metrics are, in the policy's namespace or, for
//     a namespaceSelector policy, in all namespaces.
//
// gathered are the resources the enricher reads, by API group
// (enricher.GatheredResources; passed in because the enricher imports this
// package). Context gathering is resolved after defaulting (Resolve), so a
// setting left to the installation's default counts too.
func AccessChecks(s *config.Settings, p *v1alpha1.RemediationPolicy, gathered map[string][]string) []AccessCheck {
	spec := &p.Spec
	specPath := field.NewPath("spec")
	var out []AccessCheck
	if ref := spec.McpAuthSecretRef; ref != nil && ref.Name != "" {
		out = append(out, AccessCheck{
			Attributes: authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: p.Namespace, Name: ref.Name},
			Field:      specPath.Child("mcpAuthSecretRef", "name"),
			Reason:     ReasonSecretRef,
		})
	}
	// Data leaves for an endpoint the policy names itself, or, for a dry
	// run, for the policy's own status and Events. The notification checks
	// come after the endpoint's, so a shared one names the endpoint's field.
	notify := notificationChecks(s, p, specPath)
	dryRun := spec.DryRun != nil && *spec.DryRun
	if spec.McpEndpoint == "" && !dryRun {
		return dedupe(append(out, notify...))
	}
	ns, suffix := p.Namespace, ""
	if spec.NamespaceSelector != nil {
		ns, suffix = "", ReasonAllNamespaces
	}
	add := func(verb, group, resource, sub string, path *field.Path, reason string) {
		out = append(out, AccessCheck{
			Attributes: authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Subresource: sub, Namespace: ns},
			Field:      path,
			Reason:     reason + suffix,
		})
	}
	endpoint := specPath.Child("mcpEndpoint")
	if spec.McpEndpoint == "" {
		endpoint = specPath.Child("dryRun")
	}
	add("list", "", "events", "", endpoint, ReasonEvents)
	groups := make([]string, 0, len(gathered))
	for g := range gathered {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		for _, r := range slices.Sorted(slices.Values(gathered[g])) {
			add("get", g, r, "", endpoint, ReasonObjects)
		}
	}
	cg := Resolve(p, NoSelector, s).Context
	ctxPath := specPath.Child("contextGathering")
	if cg.IncludeLogs {
		add("get", "", "pods", "log", ctxPath.Child("includeLogs"), ReasonLogs)
	}
	if cg.IncludeMetrics {
		add("get", "metrics.k8s.io", "pods", "", ctxPath.Child("includeMetrics"), ReasonMetrics)
	}
	return dedupe(append(out, notify...))
}

// dedupe keeps the first check of each access.
func dedupe(checks []AccessCheck) []AccessCheck {
	seen := map[authorizationv1.ResourceAttributes]bool{}
	return slices.DeleteFunc(checks, func(c AccessCheck) bool {
		dup := seen[c.Attributes]
		seen[c.Attributes] = true
		return dup
	})
}

// notificationChecks: get on every notification Secret, and get pods/log
// when logs are gathered, since the analysis the destination receives is
// derived from them (decision 20 (docs/design/decisions.md#d20)).
func notificationChecks(s *config.Settings, p *v1alpha1.RemediationPolicy, specPath *field.Path) []AccessCheck {
	dests := destinations(p.Spec.Notifications)
	if len(dests) == 0 {
		return nil
	}
	var out []AccessCheck
	path := specPath.Child("notifications")
	for _, e := range dests {
		if ref := e.d.WebhookURLSecretRef; ref != nil && ref.Name != "" {
			out = append(out, AccessCheck{
				Attributes: authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: p.Namespace, Name: ref.Name},
				Field:      path.Child(string(e.kind), "webhookUrlSecretRef", "name"),
				Reason:     ReasonNotifySecret,
			})
		}
	}
	if Resolve(p, NoSelector, s).Context.IncludeLogs {
		ns, suffix := p.Namespace, ""
		if p.Spec.NamespaceSelector != nil {
			ns, suffix = "", ReasonAllNamespaces
		}
		out = append(out, AccessCheck{
			Attributes: authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Subresource: "log", Namespace: ns},
			Field:      path,
			Reason:     ReasonNotifyLogs + suffix,
		})
	}
	return out
}

// KeepsSpec reports an update that never needs checking again: one that
// leaves the spec as it was (labels, annotations, finalizers) or touches a
// policy being deleted. Validate never rejects it, so such a policy can
// always be relabelled and deleted.
func KeepsSpec(oldP, newP *v1alpha1.RemediationPolicy) bool {
	return oldP != nil && newP != nil && (newP.DeletionTimestamp != nil || equality.Semantic.DeepEqual(oldP.Spec, newP.Spec))
}
