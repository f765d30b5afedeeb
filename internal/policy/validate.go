package policy

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/celevent"
	"dot-ai.io/controller/internal/config"
)

// Validate checks a RemediationPolicy against the installation's settings
// and returns every problem with its field path, plus warnings for legal but
// risky settings. oldP is nil on create.
//
// No field is immutable: the controller reads every field afresh when it
// delivers an event and keys its state by the policy's UID, so any change
// simply applies to the next event. On update, a change that leaves the spec
// as it was (labels, annotations, finalizers) and any update of a policy
// being deleted are never rejected, so a policy made invalid by a later
// settings change (an endpoint removed from the allow-list, say) can still be
// relabelled and deleted; the watcher reports such a policy as
// Ready=False/InvalidSpec.
func Validate(s *config.Settings, oldP, newP *v1alpha1.RemediationPolicy) (field.ErrorList, []string) {
	if newP == nil {
		return field.ErrorList{field.Required(field.NewPath(""), "object is missing")}, nil
	}
	if KeepsSpec(oldP, newP) {
		return nil, nil
	}
	specPath := field.NewPath("spec")
	spec := &newP.Spec
	var errs field.ErrorList
	var warnings []string

	if len(spec.EventSelectors) == 0 {
		errs = append(errs, field.Required(specPath.Child("eventSelectors"), MsgSelectorsRequired))
	}
	numErrs := validateNumbers(spec, specPath)
	for _, e := range validateStruct(spec, specPath) {
		// A NaN fails both bounds; report it once, as not a number.
		if !slices.ContainsFunc(numErrs, func(n *field.Error) bool { return n.Field == e.Field }) {
			errs = append(errs, e)
		}
	}
	errs = append(errs, numErrs...)

	selErrs, selWarnings := validateSelectors(s, newP, specPath.Child("eventSelectors"))
	errs = append(errs, selErrs...)
	warnings = append(warnings, selWarnings...)
	errs = append(errs, validateExcludeSelectors(newP, specPath.Child("excludeSelectors"))...)

	errs = append(errs, validateNamespaceSelector(s, newP, specPath.Child("namespaceSelector"))...)
	errs = append(errs, validateGuardrails(s, newP, specPath)...)
	errs = append(errs, validateNotifications(spec.Notifications, specPath.Child("notifications"))...)

	epErrs, epWarnings := validateEndpoint(s, spec, specPath)
	errs = append(errs, epErrs...)
	warnings = append(warnings, epWarnings...)

	warnings = append(warnings, policyWarnings(s, newP)...)
	return errs, warnings
}

// validateNumbers rejects NaN and infinities, which the struct rules'
// comparisons would report with a misleading bound. JSON cannot carry them,
// so only Go callers (the watcher, the fuzz test) can hit this.
func validateNumbers(spec *v1alpha1.RemediationPolicySpec, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(v *float64, p *field.Path) {
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
			errs = append(errs, field.Invalid(p, fmt.Sprint(*v), MsgNotANumber))
		}
	}
	check(spec.ConfidenceThreshold, specPath.Child("confidenceThreshold"))
	for i := range spec.EventSelectors {
		check(spec.EventSelectors[i].ConfidenceThreshold, specPath.Child("eventSelectors").Index(i).Child("confidenceThreshold"))
	}
	for i := range spec.ExcludeSelectors {
		check(spec.ExcludeSelectors[i].ConfidenceThreshold, specPath.Child("excludeSelectors").Index(i).Child("confidenceThreshold"))
	}
	return errs
}

// selectorKey identifies what a selector matches; two selectors with the same
// key are duplicates (the second could never apply, as the first matching
// selector's overrides win).
type selectorKey struct {
	typ, reason, kind, namespace, message, expression string
}

func validateSelectors(s *config.Settings, p *v1alpha1.RemediationPolicy, path *field.Path) (field.ErrorList, []string) {
	var errs field.ErrorList
	var warnings []string
	seen := map[selectorKey]bool{}
	for i := range p.Spec.EventSelectors {
		sel := &p.Spec.EventSelectors[i]
		errs = append(errs, validateMatchFields(p, sel, path.Index(i), seen)...)
		warnings = append(warnings, selectorWarnings(s, p, i, sel)...)
	}
	return errs, warnings
}

// validateExcludeSelectors checks spec.excludeSelectors: the matching rules
// of eventSelectors, and no overrides (an excluded event is never
// delivered, so they could never apply).
func validateExcludeSelectors(p *v1alpha1.RemediationPolicy, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[selectorKey]bool{}
	for i := range p.Spec.ExcludeSelectors {
		sel := &p.Spec.ExcludeSelectors[i]
		sp := path.Index(i)
		errs = append(errs, validateMatchFields(p, sel, sp, seen)...)
		if sel.Mode != "" {
			errs = append(errs, field.Forbidden(sp.Child("mode"), MsgExcludeOverride))
		}
		if sel.ConfidenceThreshold != nil {
			errs = append(errs, field.Forbidden(sp.Child("confidenceThreshold"), MsgExcludeOverride))
		}
		if sel.MaxRiskLevel != "" {
			errs = append(errs, field.Forbidden(sp.Child("maxRiskLevel"), MsgExcludeOverride))
		}
		if sel.MinOccurrences != nil {
			errs = append(errs, field.Forbidden(sp.Child("minOccurrences"), MsgExcludeOverride))
		}
		if sel.OccurrenceWindowSeconds != nil {
			errs = append(errs, field.Forbidden(sp.Child("occurrenceWindowSeconds"), MsgExcludeOverride))
		}
	}
	return errs
}

// validateMatchFields checks what a selector matches by: not everything,
// not a duplicate of an earlier selector in the same list, a namespace in
// the policy's scope, an RE2 message and a CEL expression.
func validateMatchFields(p *v1alpha1.RemediationPolicy, sel *v1alpha1.EventSelector, sp *field.Path, seen map[selectorKey]bool) field.ErrorList {
	var errs field.ErrorList
	if sel.Type == "" && sel.Reason == "" && sel.InvolvedObjectKind == "" && sel.Message == "" && sel.Expression == "" {
		errs = append(errs, field.Invalid(sp, "{}", MsgSelectorWildcard))
	}
	key := selectorKey{string(sel.Type), sel.Reason, sel.InvolvedObjectKind, sel.Namespace, sel.Message, sel.Expression}
	if seen[key] {
		errs = append(errs, field.Duplicate(sp, describeSelector(sel)))
	}
	seen[key] = true

	if sel.Namespace != "" && p.Spec.NamespaceSelector == nil && sel.Namespace != p.Namespace {
		errs = append(errs, field.Invalid(sp.Child("namespace"), sel.Namespace, fmt.Sprintf(MsgSelectorNamespace, p.Namespace)))
	}
	if sel.Message != "" && len(sel.Message) <= v1alpha1.MaxSelectorMessageLength {
		if _, err := regexp.Compile(sel.Message); err != nil {
			errs = append(errs, field.Invalid(sp.Child("message"), sel.Message, "must be an RE2 regular expression: "+err.Error()))
		}
	}
	if sel.Expression != "" && len(sel.Expression) <= v1alpha1.MaxExpressionLength {
		if _, err := celevent.Compile(sel.Expression); err != nil {
			errs = append(errs, field.Invalid(sp.Child("expression"), sel.Expression, "must be a CEL expression over event and object returning bool: "+err.Error()))
		}
	}
	return errs
}

func describeSelector(sel *v1alpha1.EventSelector) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("type", string(sel.Type))
	add("reason", sel.Reason)
	add("involvedObjectKind", sel.InvolvedObjectKind)
	add("namespace", sel.Namespace)
	add("message", sel.Message)
	add("expression", sel.Expression)
	return "{" + strings.Join(parts, ", ") + "}"
}

func selectorWarnings(s *config.Settings, p *v1alpha1.RemediationPolicy, i int, sel *v1alpha1.EventSelector) []string {
	var w []string
	if sel.Type != "" && sel.Reason == "" && sel.InvolvedObjectKind == "" && sel.Message == "" && sel.Expression == "" {
		w = append(w, fmt.Sprintf(WarnSelectorTypeOnly, i, sel.Type))
	} else if sel.Type == v1alpha1.EventTypeNormal {
		w = append(w, fmt.Sprintf(WarnSelectorNormalEvents, i))
	}
	if v1alpha1.IsContainerStatusReason(sel.Reason) {
		if sel.InvolvedObjectKind != "" && sel.InvolvedObjectKind != "Pod" {
			w = append(w, fmt.Sprintf(WarnContainerStatusReasonKind, i, sel.Reason, sel.InvolvedObjectKind))
		}
		if sel.Type == v1alpha1.EventTypeNormal {
			w = append(w, fmt.Sprintf(WarnContainerStatusReasonNormal, i, sel.Reason))
		}
	}
	if k := sel.InvolvedObjectKind; k != "" && k[0] >= 'a' && k[0] <= 'z' {
		w = append(w, fmt.Sprintf(WarnKindLowercase, i, k))
	}
	// The policy-level warning covers selectors that only inherit.
	if e := Resolve(p, i, s); (sel.Mode != "" || sel.MaxRiskLevel != "") && e.Mode == v1alpha1.ModeAutomatic && e.MaxRiskLevel == v1alpha1.RiskHigh {
		w = append(w, fmt.Sprintf(WarnSelectorAutomaticHighRisk, i))
	}
	return w
}

func validateNamespaceSelector(s *config.Settings, p *v1alpha1.RemediationPolicy, path *field.Path) field.ErrorList {
	if p.Spec.NamespaceSelector == nil {
		return nil
	}
	if !s.IsClusterPolicyNamespace(p.Namespace) {
		return field.ErrorList{field.Forbidden(path, fmt.Sprintf(MsgNamespaceSelectorForbidden, s.ClusterPolicyNamespaceList(), p.Namespace))}
	}
	sel := p.Spec.NamespaceSelector.LabelSelector()
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, path)
	return append(errs, validateSelectorSizes(sel, path)...)
}

// validateSelectorSizes mirrors the CEL size rules on the CRD field.
func validateSelectorSizes(sel *metav1.LabelSelector, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n := len(sel.MatchLabels); n > v1alpha1.MaxNamespaceSelectorLabels {
		errs = append(errs, field.TooMany(path.Child("matchLabels"), n, v1alpha1.MaxNamespaceSelectorLabels))
	}
	if n := len(sel.MatchExpressions); n > v1alpha1.MaxNamespaceSelectorExpressions {
		errs = append(errs, field.TooMany(path.Child("matchExpressions"), n, v1alpha1.MaxNamespaceSelectorExpressions))
	}
	for i, e := range sel.MatchExpressions {
		if n := len(e.Values); n > v1alpha1.MaxNamespaceSelectorValues {
			errs = append(errs, field.TooMany(path.Child("matchExpressions").Index(i).Child("values"), n, v1alpha1.MaxNamespaceSelectorValues))
		}
	}
	return errs
}

// validateEndpoint applies decision 1 (docs/design/decisions.md#d1): the installation's token only goes to
// the installation's allowed endpoints, so a policy naming any other
// endpoint must bring its own Secret.
func validateEndpoint(s *config.Settings, spec *v1alpha1.RemediationPolicySpec, specPath *field.Path) (field.ErrorList, []string) {
	ep := spec.McpEndpoint
	if ep == "" || len(ep) > v1alpha1.MaxEndpointLength {
		return nil, nil
	}
	path := specPath.Child("mcpEndpoint")
	if err := config.CheckEndpointURL(ep); err != nil {
		return field.ErrorList{field.Invalid(path, ep, err.Error())}, nil
	}
	if !s.IsAllowedEndpoint(ep) && spec.McpAuthSecretRef == nil {
		return field.ErrorList{field.Forbidden(path, MsgEndpointNotAllowed)}, nil
	}
	var w []string
	if u, err := url.Parse(ep); err == nil && u.Scheme == "http" && spec.McpAuthSecretRef != nil && !isClusterLocal(u.Hostname()) {
		w = append(w, WarnPlainHTTPWithToken)
	}
	return nil, w
}

// isClusterLocal reports hosts whose traffic stays in the cluster or on the
// node: loopback, localhost and Service names.
func isClusterLocal(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	// <service> and <service>.<namespace> resolve through the Pod's DNS
	// search path to a Service.
	return host == "localhost" || strings.Count(host, ".") <= 1 ||
		strings.HasSuffix(host, ".svc") || strings.HasSuffix(host, ".svc.cluster.local")
}

// policyWarnings looks at the effective values (Resolve): the spec's, or the
// installation defaults for what the defaulting webhook has not filled (the
// watcher validates policies that never went through it).
func policyWarnings(s *config.Settings, p *v1alpha1.RemediationPolicy) []string {
	var w []string
	e := Resolve(p, NoSelector, s)
	if e.Mode == v1alpha1.ModeAutomatic {
		if e.MaxRiskLevel == v1alpha1.RiskHigh {
			w = append(w, WarnAutomaticHighRisk)
		}
		if e.ConfidenceThreshold < lowConfidence {
			w = append(w, WarnAutomaticLowConfidence)
		}
		if e.Cooldown == 0 {
			w = append(w, WarnAutomaticNoCooldown)
		}
	}
	if e.Context.IncludeLogs && e.Context.LogLines > largeLogLines {
		w = append(w, fmt.Sprintf(WarnLargeLogLines, largeLogLines))
	}
	if e.Suspended {
		w = append(w, WarnSuspended)
	}
	// Porting from the upstream controller, which watched every namespace:
	// here a policy without namespaceSelector sees its own namespace only.
	if p.Spec.NamespaceSelector == nil && s.IsClusterPolicyNamespace(p.Namespace) {
		w = append(w, fmt.Sprintf(WarnClusterNamespaceOwnOnly, p.Namespace))
	}
	return w
}
