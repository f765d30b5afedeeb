package webhook

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"dot-ai.io/controller/api/v1alpha1"
)

// The rules of who may change what in a Remediation, for requests of users
// other than the controller (whose own requests are admitted unchanged). They
// are admission rules only: the controller never re-reads them, it executes
// only records it sealed itself.

var (
	specPath      = field.NewPath("spec")
	approvalPath  = specPath.Child("approval")
	decisionPath  = approvalPath.Child("decision")
	decidedByPath = approvalPath.Child("decidedBy")
	decidedAtPath = approvalPath.Child("decidedAt")
)

// Messages of the rejections, for tests and docs.
const (
	MsgControllerCreates = "Remediation records are created only by the dot-ai controller (one per delivered event occurrence)"
	MsgControllerStatus  = "the status of a Remediation is written only by the dot-ai controller"
	MsgRecorded          = "recorded by the dot-ai controller; only spec.approval may be set"
	MsgStamped           = "stamped by the admission webhook from the request's user and time; leave it empty"
	MsgDecidedOnce       = "the proposal was already decided (%s by %s); a decision cannot be changed or removed"
	MsgNotAwaiting       = "only a proposal in phase AwaitingApproval can be decided; this record is %s"
)

// StampDecision fills the decider and the time of a decision a person makes
// now on a record that had none, and refuses a decidedBy or decidedAt the
// person supplied. It leaves every other request alone: the validating
// webhook and the CRD's rules judge them.
func StampDecision(user string, now time.Time, oldR, newR *v1alpha1.Remediation) field.ErrorList {
	if oldR == nil || oldR.Spec.Approval != nil || newR.Spec.Approval == nil {
		return nil
	}
	a := newR.Spec.Approval
	var errs field.ErrorList
	if a.DecidedBy != "" {
		errs = append(errs, field.Forbidden(decidedByPath, MsgStamped))
	}
	if a.DecidedAt != nil {
		errs = append(errs, field.Forbidden(decidedAtPath, MsgStamped))
	}
	if len(errs) > 0 {
		return errs
	}
	a.DecidedBy = user
	a.DecidedAt = &metav1.Time{Time: now.UTC().Truncate(time.Second)}
	return nil
}

// ValidateRemediationChange judges a request by user (not the controller)
// on subresource ("" or "status") of a record: oldR is nil on create. It
// returns every rejection with its field path, and whether the request
// decides the proposal, which the caller must then authorise with the verb
// approve.
func ValidateRemediationChange(user, subresource string, oldR, newR *v1alpha1.Remediation) (field.ErrorList, bool) {
	switch {
	case oldR == nil:
		return field.ErrorList{field.Forbidden(specPath, MsgControllerCreates)}, false
	case subresource == "status":
		return field.ErrorList{field.Forbidden(field.NewPath("status"), MsgControllerStatus)}, false
	case subresource != "":
		return field.ErrorList{field.Forbidden(field.NewPath(subresource), "only the dot-ai controller may write "+subresource)}, false
	}
	o, n := &oldR.Spec, &newR.Spec
	var errs field.ErrorList
	for _, f := range []struct {
		name     string
		old, new any
	}{
		{"policy", o.Policy, n.Policy},
		{"event", o.Event, n.Event},
		{"mode", o.Mode, n.Mode},
		{"mcpURL", o.McpURL, n.McpURL},
		{"idempotencyKey", o.IdempotencyKey, n.IdempotencyKey},
	} {
		if !equality.Semantic.DeepEqual(f.old, f.new) {
			errs = append(errs, field.Forbidden(specPath.Child(f.name), MsgRecorded))
		}
	}
	switch {
	case o.Approval != nil:
		if !equality.Semantic.DeepEqual(o.Approval, n.Approval) {
			errs = append(errs, field.Forbidden(approvalPath, fmt.Sprintf(MsgDecidedOnce, o.Approval.Decision, o.Approval.DecidedBy)))
		}
		return errs, false
	case n.Approval == nil:
		return errs, false
	}
	if phase := oldR.Status.Phase; phase != v1alpha1.PhaseAwaitingApproval {
		errs = append(errs, field.Forbidden(decisionPath, fmt.Sprintf(MsgNotAwaiting, phaseOrNone(phase))))
	}
	// The mutating webhook stamps both; anything else bypassed or altered it.
	if n.Approval.DecidedBy != user {
		errs = append(errs, field.Forbidden(decidedByPath, MsgStamped))
	}
	if n.Approval.DecidedAt == nil {
		errs = append(errs, field.Required(decidedAtPath, MsgStamped))
	}
	return errs, len(errs) == 0
}

func phaseOrNone(p v1alpha1.RemediationPhase) string {
	if p == "" {
		return "not analysed yet"
	}
	return string(p)
}
