package webhook

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"dot-ai.io/controller/api/v1alpha1"
)

// Paths the Remediation webhooks are served on; the chart's webhook
// configurations (templates/webhooks.yaml) must use them.
const (
	RemediationMutatePath   = "/mutate-remediation-dot-ai-io-v1alpha1-remediation"
	RemediationValidatePath = "/validate-remediation-dot-ai-io-v1alpha1-remediation"
)

// RemediationGroupKind is Remediation's, for apierrors.NewInvalid.
var RemediationGroupKind = v1alpha1.GroupVersion.WithKind("Remediation").GroupKind()

// RemediationWebhook guards Remediation records (docs/remediations.md): the
// controller alone creates them, writes their status and sets their recorded
// spec; a person may only decide spec.approval, once, while the record is
// AwaitingApproval, and only with the custom verb `approve` (an approved
// command runs with dot-ai's privileges, so editing rights are not enough).
// The mutating half stamps who decided and when from the request. Neither
// reads anything but the request and one SubjectAccessReview.
type RemediationWebhook struct {
	// ControllerUsername is the controller's own user
	// (config.Settings.ControllerUsername); empty matches nobody.
	ControllerUsername string
	// Reviewer answers the approve access review; nil means the manager's
	// own client (SetupWebhookWithManager fills it in).
	Reviewer AccessReviewer
	// ReviewTimeout bounds the access review; zero means
	// DefaultReviewTimeout.
	ReviewTimeout time.Duration
	// Now stamps decidedAt; nil means time.Now.
	Now func() time.Time
}

var (
	_ admission.Defaulter[*v1alpha1.Remediation] = &RemediationWebhook{}
	_ admission.Validator[*v1alpha1.Remediation] = &RemediationWebhook{}
)

// SetupWebhookWithManager registers both webhooks on the manager's webhook
// server, at RemediationMutatePath and RemediationValidatePath.
func (w *RemediationWebhook) SetupWebhookWithManager(mgr ctrl.Manager) error {
	if w.Reviewer == nil {
		k, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return fmt.Errorf("access review client: %w", err)
		}
		w.Reviewer = k.AuthorizationV1().SubjectAccessReviews()
	}
	srv := mgr.GetWebhookServer()
	srv.Register(RemediationMutatePath, admission.WithDefaulter[*v1alpha1.Remediation](mgr.GetScheme(), w))
	srv.Register(RemediationValidatePath, admission.WithValidator[*v1alpha1.Remediation](mgr.GetScheme(), w))
	return nil
}

// Default implements admission.Defaulter: on a person's first decision it
// stamps spec.approval.decidedBy and decidedAt, refusing values the person
// supplied.
func (w *RemediationWebhook) Default(ctx context.Context, r *v1alpha1.Remediation) error {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if req.Operation != admissionv1.Update || req.SubResource != "" || req.UserInfo.Username == w.ControllerUsername {
		return nil
	}
	old := &v1alpha1.Remediation{}
	if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decoding the stored record: %v", err))
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	if errs := StampDecision(req.UserInfo.Username, now(), old, r); len(errs) > 0 {
		return apierrors.NewInvalid(RemediationGroupKind, r.Name, errs)
	}
	return nil
}

// ValidateCreate implements admission.Validator.
func (w *RemediationWebhook) ValidateCreate(ctx context.Context, r *v1alpha1.Remediation) (admission.Warnings, error) {
	return nil, w.validate(ctx, nil, r)
}

// ValidateUpdate implements admission.Validator; it also sees status writes.
func (w *RemediationWebhook) ValidateUpdate(ctx context.Context, oldR, newR *v1alpha1.Remediation) (admission.Warnings, error) {
	return nil, w.validate(ctx, oldR, newR)
}

// ValidateDelete implements admission.Validator; deletes are RBAC's business
// (the webhook configuration does not register for them).
func (w *RemediationWebhook) ValidateDelete(context.Context, *v1alpha1.Remediation) (admission.Warnings, error) {
	return nil, nil
}

// MsgApproveDenied refuses a decision by a user without the verb approve.
const MsgApproveDenied = "you may not %s %s: deciding on a proposal needs the verb %q on remediations.%s in this namespace " +
	"(the remediation-approver ClusterRole); editing rights are not enough, because an approved command runs with " +
	"dot-ai's own privileges (docs/remediations.md)"

func (w *RemediationWebhook) validate(ctx context.Context, oldR, newR *v1alpha1.Remediation) error {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if req.UserInfo.Username == w.ControllerUsername {
		return nil
	}
	log := logf.FromContext(ctx)
	errs, decided := ValidateRemediationChange(req.UserInfo.Username, req.SubResource, oldR, newR)
	if len(errs) > 0 {
		log.V(1).Info("Rejected Remediation change", "namespace", newR.Namespace, "name", newR.Name, "user", req.UserInfo.Username, "errors", len(errs))
		return apierrors.NewInvalid(RemediationGroupKind, newR.Name, errs)
	}
	if !decided {
		return nil
	}
	attrs := ApproveAttributes(newR.Namespace, newR.Name)
	allowed, err := askAccess(ctx, w.Reviewer, cmp.Or(w.ReviewTimeout, DefaultReviewTimeout), req.UserInfo, []authorizationv1.ResourceAttributes{attrs})
	if err != nil {
		log.Error(err, "Access review failed", "access", "approve remediations", "user", req.UserInfo.Username)
		return apierrors.NewServiceUnavailable("could not check the requesting user's access (SubjectAccessReview failed); " +
			"the decision was not recorded, try again (the controller's log has the cause)")
	}
	if !allowed[0] {
		verb := "approve"
		if newR.Spec.Approval.Decision == v1alpha1.DecisionReject {
			verb = "reject"
		}
		msg := fmt.Sprintf(MsgApproveDenied, verb, fmt.Sprintf("remediation %q", newR.Name), v1alpha1.VerbApprove, v1alpha1.GroupVersion.Group)
		log.V(1).Info("Rejected Remediation decision: user lacks the approve verb", "namespace", newR.Namespace, "name", newR.Name, "user", req.UserInfo.Username)
		return apierrors.NewInvalid(RemediationGroupKind, newR.Name, field.ErrorList{field.Forbidden(decisionPath, msg)})
	}
	log.Info("Remediation decided", "namespace", newR.Namespace, "name", newR.Name, "decision", newR.Spec.Approval.Decision, "user", req.UserInfo.Username)
	return nil
}

// ApproveAttributes is the access a decision on record name in namespace
// needs: the custom verb approve on it.
func ApproveAttributes(namespace, name string) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{
		Namespace: namespace, Verb: v1alpha1.VerbApprove, Group: v1alpha1.GroupVersion.Group,
		Resource: v1alpha1.RemediationResource, Name: name,
	}
}
