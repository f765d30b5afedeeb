// Package webhook holds the admission webhooks of RemediationPolicy, thin
// adapters over internal/policy: a defaulting webhook that fills what the
// user left empty from the chart's policyDefaults (decision 2 (docs/design/decisions.md#d2)), and a
// validating webhook that rejects invalid policies with every failing field
// path at once, then checks with SubjectAccessReviews that the requesting
// user may read what the policy would send (decision 20 (docs/design/decisions.md#d20)), and records the admitted spec. The
// Remediation webhooks (remediation_webhook.go) keep records the
// controller's and let a person with the verb approve decide, once.
package webhook

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/admitted"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/policy"
)

// Paths the webhooks are served on (controller-runtime's convention:
// /mutate-<group with '-'>-<version>-<lower-case kind>). The chart's
// webhook configurations must use them.
const (
	MutatePath   = "/mutate-remediation-dot-ai-io-v1alpha1-remediationpolicy"
	ValidatePath = "/validate-remediation-dot-ai-io-v1alpha1-remediationpolicy"
)

// The webhook configurations live in the chart, which is written by hand:
// charts/dot-ai-controller/templates/webhooks.yaml (failurePolicy, timeout,
// the certificate and its CA injection are chart values). There are no
// +kubebuilder:webhook markers: nothing generated from them (make manifests
// reads ./api only) and they had drifted from the chart.

// GroupKind of RemediationPolicy, for apierrors.NewInvalid.
var GroupKind = v1alpha1.GroupVersion.WithKind("RemediationPolicy").GroupKind()

// RemediationPolicyWebhook defaults and validates RemediationPolicies with
// the installation's settings.
type RemediationPolicyWebhook struct {
	Settings *config.Settings
	// Reviewer answers the access reviews of decision 20 (docs/design/decisions.md#d20); nil means the
	// manager's own client (SetupWebhookWithManager fills it in).
	Reviewer AccessReviewer
	// ReviewTimeout bounds one request's access reviews; zero means
	// DefaultReviewTimeout.
	ReviewTimeout time.Duration
	// Gathered are the resources the enricher reads, by API group; nil means
	// enricher.GatheredResources.
	Gathered map[string][]string
	// Ledger records the admitted specs; nil records nothing.
	Ledger admitted.Ledger
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
	if w.Reviewer == nil {
		k, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return fmt.Errorf("access review client: %w", err)
		}
		w.Reviewer = k.AuthorizationV1().SubjectAccessReviews()
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
	policy.Default(w.Settings, p)
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
	log := logf.FromContext(ctx)
	errs, warnings := policy.Validate(w.Settings, oldP, newP)
	if len(errs) > 0 {
		log.V(1).Info("Rejected RemediationPolicy", "namespace", newP.Namespace, "name", newP.Name, "errors", len(errs))
		return warnings, apierrors.NewInvalid(GroupKind, newP.Name, errs)
	}
	if policy.KeepsSpec(oldP, newP) {
		// Never rejected (relabel, finalizers, deletion); may re-admit.
		w.readmit(ctx, newP)
		return warnings, nil
	}
	denied, err := w.reviewAccess(ctx, newP)
	if err != nil {
		return warnings, apierrors.NewServiceUnavailable(err.Error())
	}
	if len(denied) > 0 {
		log.V(1).Info("Rejected RemediationPolicy: requesting user lacks access", "namespace", newP.Namespace, "name", newP.Name, "errors", len(denied))
		return warnings, apierrors.NewInvalid(GroupKind, newP.Name, denied)
	}
	if w.Ledger != nil && !isDryRun(ctx) {
		if err := w.Ledger.Record(ctx, newP); err != nil {
			log.Error(err, "Recording admitted RemediationPolicy failed", "namespace", newP.Namespace, "name", newP.Name)
			return warnings, apierrors.NewServiceUnavailable(MsgRecordFailed)
		}
	}
	return warnings, nil
}

// isDryRun reports a dry-run request, which must have no side effects (the
// chart declares sideEffects: NoneOnDryRun): nothing is recorded for it.
func isDryRun(ctx context.Context) bool {
	req, err := admission.RequestFromContext(ctx)
	return err == nil && req.DryRun != nil && *req.DryRun
}

// MsgRecordFailed refuses a policy that passed every check but could not be
// recorded as admitted: stored unrecorded, the watcher would not act on it.
const MsgRecordFailed = "the policy passed validation but could not be recorded as admitted; try again " +
	"(the controller's log has the cause)"

// reviewAccess runs the access reviews policy.AccessChecks asks for, as the
// user of the admission request in ctx.
func (w *RemediationPolicyWebhook) reviewAccess(ctx context.Context, p *v1alpha1.RemediationPolicy) (field.ErrorList, error) {
	gathered := w.Gathered
	if gathered == nil {
		gathered = enricher.GatheredResources
	}
	checks := policy.AccessChecks(w.Settings, p, gathered)
	if len(checks) == 0 {
		return nil, nil
	}
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errReviewFailed, err)
	}
	return reviewAccess(ctx, w.Reviewer, cmp.Or(w.ReviewTimeout, DefaultReviewTimeout), req.UserInfo, checks)
}

// readmit records a policy whose spec an update left as it was, when it is
// not recorded yet (written while the webhook was bypassed) and the user
// who touches it now passes the access reviews. It never rejects: such an
// update must always go through.
func (w *RemediationPolicyWebhook) readmit(ctx context.Context, p *v1alpha1.RemediationPolicy) {
	if w.Ledger == nil || p.DeletionTimestamp != nil || isDryRun(ctx) {
		return
	}
	log := logf.FromContext(ctx)
	if ok, err := w.Ledger.Admitted(ctx, p); err != nil || ok {
		return
	}
	if errs, _ := policy.Validate(w.Settings, nil, p); len(errs) > 0 {
		return
	}
	if denied, err := w.reviewAccess(ctx, p); err != nil || len(denied) > 0 {
		return
	}
	if err := w.Ledger.Record(ctx, p); err != nil {
		log.Error(err, "Recording re-admitted RemediationPolicy failed", "namespace", p.Namespace, "name", p.Name)
		return
	}
	log.Info("Re-admitted RemediationPolicy on an update that kept its spec", "namespace", p.Namespace, "name", p.Name)
}
