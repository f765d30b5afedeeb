// Package webhook holds the admission webhooks of RemediationPolicy: a
// defaulting webhook that fills what the user left empty from the chart's
// policyDefaults (decision 2), and a validating webhook that rejects invalid
// policies with every failing field path at once. The event watcher runs the
// same Validate on policies that reached the cluster without admission
// (decision 3).
package webhook

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/celevent"
	"dot-ai.io/controller/internal/config"
)

// Paths the webhooks are served on (controller-runtime's convention:
// /mutate-<group with '-'>-<version>-<lower-case kind>). The chart's
// webhook configurations must use them.
const (
	MutatePath   = "/mutate-remediation-dot-ai-io-v1alpha1-remediationpolicy"
	ValidatePath = "/validate-remediation-dot-ai-io-v1alpha1-remediationpolicy"
)

// The chart renders the webhook configurations; these markers document them
// for controller-gen users.
// +kubebuilder:webhook:path=/mutate-remediation-dot-ai-io-v1alpha1-remediationpolicy,mutating=true,failurePolicy=fail,sideEffects=None,groups=remediation.dot-ai.io,resources=remediationpolicies,verbs=create;update,versions=v1alpha1,name=mremediationpolicy.dot-ai.io,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-remediation-dot-ai-io-v1alpha1-remediationpolicy,mutating=false,failurePolicy=fail,sideEffects=None,groups=remediation.dot-ai.io,resources=remediationpolicies,verbs=create;update,versions=v1alpha1,name=vremediationpolicy.dot-ai.io,admissionReviewVersions=v1

// GroupKind of RemediationPolicy, for apierrors.NewInvalid.
var GroupKind = v1alpha1.GroupVersion.WithKind("RemediationPolicy").GroupKind()

// RemediationPolicyWebhook defaults and validates RemediationPolicies with
// the installation's settings.
type RemediationPolicyWebhook struct {
	Settings *config.Settings
}

var (
	_ admission.Defaulter[*v1alpha1.RemediationPolicy] = &RemediationPolicyWebhook{}
	_ admission.Validator[*v1alpha1.RemediationPolicy] = &RemediationPolicyWebhook{}
)

// SetupWebhookWithManager registers both webhooks on the manager's webhook
// server, at MutatePath and ValidatePath.
func (w *RemediationPolicyWebhook) SetupWebhookWithManager(mgr ctrl.Manager) error {
	if w.Settings == nil {
		return fmt.Errorf("RemediationPolicyWebhook needs Settings")
	}
	mutate := admission.WithDefaulter[*v1alpha1.RemediationPolicy](mgr.GetScheme(), w)
	mutate.Handler = schemaJudgesTypes{next: mutate.Handler}
	mgr.GetWebhookServer().Register(MutatePath, mutate)
	return ctrl.NewWebhookManagedBy(mgr, &v1alpha1.RemediationPolicy{}).
		WithValidator(w).
		Complete()
}

// schemaJudgesTypes admits unchanged an object the defaulter cannot decode
// (a field of the wrong JSON type, such as confidenceThreshold: "0.8"). The
// CRD's schema validation runs after mutating admission and rejects it with
// 422 Invalid and the field path, where the defaulter alone would answer a
// bare 400. Every field of the schema has a type, so nothing undecodable
// gets past it. controller-runtime's defaulter answers 400 only when it
// cannot decode the object, so the object is decoded once.
type schemaJudgesTypes struct {
	next admission.Handler
}

func (h schemaJudgesTypes) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp := h.next.Handle(ctx, req)
	if len(req.Object.Raw) > 0 && !resp.Allowed && resp.Result != nil && resp.Result.Code == http.StatusBadRequest {
		return admission.Allowed("not decodable: left to the CRD schema's validation")
	}
	return resp
}

// Default implements admission.Defaulter.
func (w *RemediationPolicyWebhook) Default(ctx context.Context, p *v1alpha1.RemediationPolicy) error {
	Default(w.Settings, p)
	logf.FromContext(ctx).V(1).Info("Defaulted RemediationPolicy", "namespace", p.Namespace, "name", p.Name)
	return nil
}

// ValidateCreate implements admission.Validator.
func (w *RemediationPolicyWebhook) ValidateCreate(ctx context.Context, p *v1alpha1.RemediationPolicy) (admission.Warnings, error) {
	return w.validate(ctx, nil, p)
}

// ValidateUpdate implements admission.Validator.
func (w *RemediationPolicyWebhook) ValidateUpdate(ctx context.Context, oldP, newP *v1alpha1.RemediationPolicy) (admission.Warnings, error) {
	return w.validate(ctx, oldP, newP)
}

// ValidateDelete implements admission.Validator; deletes are always allowed
// (the webhook configuration does not even register for them).
func (w *RemediationPolicyWebhook) ValidateDelete(context.Context, *v1alpha1.RemediationPolicy) (admission.Warnings, error) {
	return nil, nil
}

func (w *RemediationPolicyWebhook) validate(ctx context.Context, oldP, newP *v1alpha1.RemediationPolicy) (admission.Warnings, error) {
	errs, warnings := Validate(w.Settings, oldP, newP)
	if len(errs) > 0 {
		logf.FromContext(ctx).V(1).Info("Rejected RemediationPolicy", "namespace", newP.Namespace, "name", newP.Name, "errors", len(errs))
		return warnings, apierrors.NewInvalid(GroupKind, newP.Name, errs)
	}
	return warnings, nil
}

// Default fills every setting the user left empty from s.Defaults (the
// chart's policyDefaults). It does not touch mcpEndpoint or mcpAuthSecretRef:
// empty means the installation's endpoint and token, resolved at delivery
// time (decision 1). Per-selector overrides are not defaulted: an empty
// override inherits the policy's value.
func Default(s *config.Settings, p *v1alpha1.RemediationPolicy) {
	d := s.Defaults
	spec := &p.Spec
	if spec.Mode == "" {
		spec.Mode = d.Mode
	}
	if spec.ConfidenceThreshold == nil {
		spec.ConfidenceThreshold = new(d.ConfidenceThreshold)
	}
	if spec.MaxRiskLevel == "" {
		spec.MaxRiskLevel = d.MaxRiskLevel
	}
	if spec.McpTool == "" {
		spec.McpTool = d.McpTool
	}
	if spec.RateLimiting == nil {
		spec.RateLimiting = &v1alpha1.RateLimiting{}
	}
	rl := spec.RateLimiting
	if rl.EventsPerMinute == nil {
		rl.EventsPerMinute = new(d.EventsPerMinute)
	}
	if rl.CooldownMinutes == nil {
		rl.CooldownMinutes = new(d.CooldownMinutes)
	}
	if spec.ContextGathering == nil {
		spec.ContextGathering = &v1alpha1.ContextGathering{}
	}
	cg := spec.ContextGathering
	setBool(&cg.IncludeLogs, d.IncludeLogs)
	setInt32(&cg.LogLines, d.LogLines)
	if cg.MaxLogBytes == nil {
		cg.MaxLogBytes = new(d.MaxLogBytes)
	}
	setBool(&cg.IncludePreviousLogs, d.IncludePreviousLogs)
	setBool(&cg.IncludeRelatedEvents, d.IncludeRelatedEvents)
	setInt32(&cg.LookbackMinutes, d.LookbackMinutes)
	setBool(&cg.IncludeResourceSpec, d.IncludeResourceSpec)
	setBool(&cg.IncludeMetrics, d.IncludeMetrics)
}

func setBool(p **bool, v bool) {
	if *p == nil {
		*p = new(v)
	}
}

func setInt32(p **int32, v int32) {
	if *p == nil {
		*p = new(v)
	}
}

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
func Validate(s *config.Settings, oldP, newP *v1alpha1.RemediationPolicy) (field.ErrorList, admission.Warnings) {
	if newP == nil {
		return field.ErrorList{field.Required(field.NewPath(""), "object is missing")}, nil
	}
	if oldP != nil && (newP.DeletionTimestamp != nil || equality.Semantic.DeepEqual(oldP.Spec, newP.Spec)) {
		return nil, nil
	}
	specPath := field.NewPath("spec")
	spec := &newP.Spec
	var errs field.ErrorList
	var warnings admission.Warnings

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

	selErrs, selWarnings := validateSelectors(newP, specPath.Child("eventSelectors"))
	errs = append(errs, selErrs...)
	warnings = append(warnings, selWarnings...)

	errs = append(errs, validateNamespaceSelector(s, newP, specPath.Child("namespaceSelector"))...)

	epErrs, epWarnings := validateEndpoint(s, spec, specPath)
	errs = append(errs, epErrs...)
	warnings = append(warnings, epWarnings...)

	warnings = append(warnings, policyWarnings(s, spec)...)
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
	return errs
}

// selectorKey identifies what a selector matches; two selectors with the same
// key are duplicates (the second could never apply, as the first matching
// selector's overrides win).
type selectorKey struct {
	typ, reason, kind, namespace, message, expression string
}

func validateSelectors(p *v1alpha1.RemediationPolicy, path *field.Path) (field.ErrorList, admission.Warnings) {
	var errs field.ErrorList
	var warnings admission.Warnings
	seen := map[selectorKey]bool{}
	for i := range p.Spec.EventSelectors {
		sel := &p.Spec.EventSelectors[i]
		sp := path.Index(i)
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
		if sel.Message != "" && len(sel.Message) <= 1024 {
			if _, err := regexp.Compile(sel.Message); err != nil {
				errs = append(errs, field.Invalid(sp.Child("message"), sel.Message, "must be an RE2 regular expression: "+err.Error()))
			}
		}
		if sel.Expression != "" && len(sel.Expression) <= celevent.MaxExpressionLength {
			if _, err := celevent.Compile(sel.Expression); err != nil {
				errs = append(errs, field.Invalid(sp.Child("expression"), sel.Expression, "must be a CEL expression over event returning bool: "+err.Error()))
			}
		}
		warnings = append(warnings, selectorWarnings(p, i, sel)...)
	}
	return errs, warnings
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

func selectorWarnings(p *v1alpha1.RemediationPolicy, i int, sel *v1alpha1.EventSelector) admission.Warnings {
	var w admission.Warnings
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
	mode := sel.Mode
	if mode == "" {
		mode = p.Spec.Mode
	}
	risk := sel.MaxRiskLevel
	if risk == "" {
		risk = p.Spec.MaxRiskLevel
	}
	// The policy-level warning covers selectors that only inherit.
	if (sel.Mode != "" || sel.MaxRiskLevel != "") && mode == v1alpha1.ModeAutomatic && risk == v1alpha1.RiskHigh {
		w = append(w, fmt.Sprintf(WarnSelectorAutomaticHighRisk, i))
	}
	return w
}

func validateNamespaceSelector(s *config.Settings, p *v1alpha1.RemediationPolicy, path *field.Path) field.ErrorList {
	if p.Spec.NamespaceSelector == nil {
		return nil
	}
	if !s.IsClusterPolicyNamespace(p.Namespace) {
		return field.ErrorList{field.Forbidden(path, fmt.Sprintf(MsgNamespaceSelectorForbidden, clusterPolicyNamespaces(s), p.Namespace))}
	}
	return metav1validation.ValidateLabelSelector(p.Spec.NamespaceSelector, metav1validation.LabelSelectorValidationOptions{}, path)
}

func clusterPolicyNamespaces(s *config.Settings) []string {
	if len(s.ClusterPolicyNamespaces) == 0 {
		return []string{s.Namespace}
	}
	return s.ClusterPolicyNamespaces
}

// validateEndpoint applies decision 1: the installation's token only goes to
// the installation's allowed endpoints, so a policy naming any other
// endpoint must bring its own Secret.
func validateEndpoint(s *config.Settings, spec *v1alpha1.RemediationPolicySpec, specPath *field.Path) (field.ErrorList, admission.Warnings) {
	ep := spec.McpEndpoint
	if ep == "" || len(ep) > 2048 {
		return nil, nil
	}
	path := specPath.Child("mcpEndpoint")
	if err := config.CheckEndpointURL(ep); err != nil {
		return field.ErrorList{field.Invalid(path, ep, err.Error())}, nil
	}
	if !s.IsAllowedEndpoint(ep) && spec.McpAuthSecretRef == nil {
		return field.ErrorList{field.Forbidden(path, MsgEndpointNotAllowed)}, nil
	}
	var w admission.Warnings
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

// policyWarnings looks at the effective values: the spec's, or the
// installation defaults for what the defaulting webhook has not filled (the
// watcher validates policies that never went through it).
func policyWarnings(s *config.Settings, spec *v1alpha1.RemediationPolicySpec) admission.Warnings {
	var w admission.Warnings
	d := s.Defaults
	mode := spec.Mode
	if mode == "" {
		mode = d.Mode
	}
	risk := spec.MaxRiskLevel
	if risk == "" {
		risk = d.MaxRiskLevel
	}
	confidence := d.ConfidenceThreshold
	if spec.ConfidenceThreshold != nil {
		confidence = *spec.ConfidenceThreshold
	}
	cooldown := d.CooldownMinutes
	if spec.RateLimiting != nil && spec.RateLimiting.CooldownMinutes != nil {
		cooldown = *spec.RateLimiting.CooldownMinutes
	}
	if mode == v1alpha1.ModeAutomatic {
		if risk == v1alpha1.RiskHigh {
			w = append(w, WarnAutomaticHighRisk)
		}
		if confidence < 0.5 {
			w = append(w, WarnAutomaticLowConfidence)
		}
		if cooldown == 0 {
			w = append(w, WarnAutomaticNoCooldown)
		}
	}
	logLines, includeLogs := d.LogLines, d.IncludeLogs
	if cg := spec.ContextGathering; cg != nil {
		if cg.LogLines != nil {
			logLines = *cg.LogLines
		}
		if cg.IncludeLogs != nil {
			includeLogs = *cg.IncludeLogs
		}
	}
	if includeLogs && logLines > largeLogLines {
		w = append(w, fmt.Sprintf(WarnLargeLogLines, largeLogLines))
	}
	if spec.Suspend != nil && *spec.Suspend {
		w = append(w, WarnSuspended)
	}
	return w
}
