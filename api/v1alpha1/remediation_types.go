package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Remediation records one delivered event occurrence: dot-ai's analysis,
// its proposal, the decision a person took and what was executed. The
// controller creates it in the Event's namespace, named from the
// occurrence's idempotency key, before the call leaves: it is the
// write-ahead intent of decision 17 (docs/design/decisions.md#d17), and the
// loop it closes is described in docs/remediations.md.
//
// Only the controller creates records, writes their status or changes spec
// other than spec.approval; people set spec.approval, once, and need the
// custom verb `approve` on remediations for it.

// RemediationPhase is where a record is in its life.
// +kubebuilder:validation:Enum=Analyzing;AwaitingApproval;Analyzed;Approved;Executing;Succeeded;PartiallyResolved;Failed;Rejected;Expired;Interrupted
type RemediationPhase string

const (
	// PhaseAnalyzing means the analysis call is in flight (manual mode; it may be
	// re-sent with the same Idempotency-Key).
	PhaseAnalyzing RemediationPhase = "Analyzing"
	// PhaseAwaitingApproval means dot-ai proposed a remediation and waits for a
	// person's decision in spec.approval.
	PhaseAwaitingApproval RemediationPhase = "AwaitingApproval"
	// PhaseAnalyzed means the analysis needs no decision (nothing to execute, or
	// automatic mode below its thresholds).
	PhaseAnalyzed RemediationPhase = "Analyzed"
	// PhaseApproved means a person approved; the execute call has not left yet.
	PhaseApproved RemediationPhase = "Approved"
	// PhaseExecuting means a call that can change the cluster (automatic mode, or
	// the execute call after an approval) may have left. Never sent again.
	PhaseExecuting RemediationPhase = "Executing"
	// PhaseSucceeded means the remediation was executed and validated.
	PhaseSucceeded RemediationPhase = "Succeeded"
	// PhasePartiallyResolved means it was executed, but validation found leftovers.
	PhasePartiallyResolved RemediationPhase = "PartiallyResolved"
	// PhaseFailed means the delivery or the executed commands failed.
	PhaseFailed RemediationPhase = "Failed"
	// PhaseRejected means a person rejected the proposal.
	PhaseRejected RemediationPhase = "Rejected"
	// PhaseExpired means nobody decided within the installation's approval window.
	PhaseExpired RemediationPhase = "Expired"
	// PhaseInterrupted means the controller stopped while a call that can change
	// the cluster was in flight; check the session in dot-ai.
	PhaseInterrupted RemediationPhase = "Interrupted"
)

// Terminal reports whether nothing more happens to a record in phase p:
// retention deletes only such records.
func (p RemediationPhase) Terminal() bool {
	switch p {
	case PhaseAnalyzed, PhaseSucceeded, PhasePartiallyResolved, PhaseFailed,
		PhaseRejected, PhaseExpired, PhaseInterrupted:
		return true
	}
	return false
}

// RemediationResource is the plural resource name of Remediation.
const RemediationResource = "remediations"

// VerbApprove is the custom RBAC verb on remediations that deciding on a
// proposal needs (as CertificateSigningRequest approval has its own): the
// admission webhook asks a SubjectAccessReview for it, so editing rights
// alone are not enough.
const VerbApprove = "approve"

// ApprovalDecision is a person's answer to a proposal.
// +kubebuilder:validation:Enum=Approve;Reject
type ApprovalDecision string

const (
	// DecisionApprove lets the controller execute the proposal, once.
	DecisionApprove ApprovalDecision = "Approve"
	// DecisionReject closes the proposal without executing anything.
	DecisionReject ApprovalDecision = "Reject"
)

// RemediationApproval is the decision a person takes on a proposal.
type RemediationApproval struct {
	// decision approves or rejects the proposal. Allowed once, only while
	// the record is AwaitingApproval, and only to users who hold the verb
	// `approve` on remediations in this namespace.
	// +required
	Decision ApprovalDecision `json:"decision,omitempty"`

	// reason is free text kept with the decision.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason,omitempty"`

	// decidedBy is the user who decided, stamped by the admission webhook
	// from the request; a value supplied by the user is refused.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	DecidedBy string `json:"decidedBy,omitempty"`

	// decidedAt is when the decision was admitted, stamped by the webhook.
	// +optional
	DecidedAt *metav1.Time `json:"decidedAt,omitempty"`
}

// RemediationPolicyReference names the policy that selected the event.
type RemediationPolicyReference struct {
	// namespace of the policy.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
	// name of the policy.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// uid of the policy.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=36
	UID string `json:"uid,omitempty"`
}

// RemediationObjectReference is the object the event is about.
type RemediationObjectReference struct {
	// kind of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind,omitempty"`
	// name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// namespace of the object; empty for cluster-scoped objects.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
	// uid of the object.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	UID string `json:"uid,omitempty"`
}

// RemediationEvent is the event occurrence the record is about.
type RemediationEvent struct {
	// name of the Kubernetes Event (in the record's namespace).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// uid of the Event.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	UID string `json:"uid,omitempty"`
	// reason of the Event.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason,omitempty"`
	// message of the Event, shortened.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// count of the occurrence.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Count int32 `json:"count,omitempty"`
	// time of the occurrence.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
	// involvedObject is the object the event is about (the owner when the
	// controller delivered for the owner of a deleted Pod).
	// +required
	InvolvedObject RemediationObjectReference `json:"involvedObject,omitzero"`
}

// RemediationSpec is set by the controller at creation and never changes,
// except spec.approval, which a person sets.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.approval) || (has(self.approval) && self.approval == oldSelf.approval)",message="approval is decided once and cannot be changed or removed",fieldPath=".approval"
type RemediationSpec struct {
	// policy that selected the event.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="recorded by the controller at creation; immutable"
	Policy RemediationPolicyReference `json:"policy,omitzero"`

	// event occurrence the record is about.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="recorded by the controller at creation; immutable"
	Event RemediationEvent `json:"event,omitzero"`

	// mode the occurrence was delivered in.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="recorded by the controller at creation; immutable"
	Mode RemediationMode `json:"mode,omitempty"`

	// mcpURL is the remediate tool URL the analysis was sent to; an approved
	// execution goes to the same URL, checked again against the
	// installation's allow-list.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="recorded by the controller at creation; immutable"
	McpURL string `json:"mcpURL,omitempty"`

	// idempotencyKey is the occurrence's Idempotency-Key; the record's name
	// is derived from it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="recorded by the controller at creation; immutable"
	IdempotencyKey string `json:"idempotencyKey,omitempty"`

	// approval is a person's decision on the proposal.
	// +optional
	Approval *RemediationApproval `json:"approval,omitempty"`
}

// RemediationAnalysis is dot-ai's analysis of the issue.
type RemediationAnalysis struct {
	// rootCause found by dot-ai, shortened.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	RootCause string `json:"rootCause,omitempty"`
	// confidence of the analysis, 0 to 1.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	Confidence *float64 `json:"confidence,omitempty"`
	// factors that contributed, the first ten.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=atomic
	Factors []string `json:"factors,omitempty"`
}

// RemediationAction is one step dot-ai proposed.
type RemediationAction struct {
	// description of the step.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`
	// command that performs it (usually kubectl).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Command string `json:"command,omitempty"`
	// risk of the step.
	// +optional
	Risk RiskLevel `json:"risk,omitempty"`
	// rationale for the step.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Rationale string `json:"rationale,omitempty"`
}

// RemediationProposal is what dot-ai proposes to do.
type RemediationProposal struct {
	// summary of the proposal.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Summary string `json:"summary,omitempty"`
	// risk of the whole proposal.
	// +optional
	Risk RiskLevel `json:"risk,omitempty"`
	// actions proposed, the first twenty.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	Actions []RemediationAction `json:"actions,omitempty"`
}

// RemediationResult is the result of one executed action.
type RemediationResult struct {
	// action that was executed.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Action string `json:"action,omitempty"`
	// success of the action.
	// +optional
	Success bool `json:"success,omitempty"`
	// output of the action, shortened.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Output string `json:"output,omitempty"`
	// error of the action, shortened.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Error string `json:"error,omitempty"`
}

// RemediationExecution is what dot-ai executed and how it validated it.
type RemediationExecution struct {
	// startedAt is when the call that executes was recorded, before it left.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// executedCommands as dot-ai reported them, the first twenty.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=2048
	// +listType=atomic
	ExecutedCommands []string `json:"executedCommands,omitempty"`
	// results of the executed actions, the first twenty.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	Results []RemediationResult `json:"results,omitempty"`
	// validationSucceeded is dot-ai's validation after executing.
	// +optional
	ValidationSucceeded *bool `json:"validationSucceeded,omitempty"`
	// validationSummary explains the validation, shortened.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	ValidationSummary string `json:"validationSummary,omitempty"`
}

// RemediationStatus is written only by the controller.
type RemediationStatus struct {
	// conditions of the record.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// phase is where the record is in its life. It is empty while the call
	// the record was created for is in flight (Analyzing in manual mode,
	// Executing in automatic mode): the record is created before the call
	// leaves and its status is written once, with dot-ai's answer.
	// +optional
	Phase RemediationPhase `json:"phase,omitempty"`

	// sessionId is dot-ai's remediation session.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	SessionID string `json:"sessionId,omitempty"`

	// mcpStatus is the status dot-ai reported, or the error code of a
	// failed call.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	McpStatus string `json:"mcpStatus,omitempty"`

	// analysis is dot-ai's analysis.
	// +optional
	Analysis *RemediationAnalysis `json:"analysis,omitempty"`

	// proposal is the remediation dot-ai proposed.
	// +optional
	Proposal *RemediationProposal `json:"proposal,omitempty"`

	// execution is what was executed, when something was.
	// +optional
	Execution *RemediationExecution `json:"execution,omitempty"`

	// message explains the phase, shortened (for Interrupted: how to check
	// the session in dot-ai).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// analyzedAt is when dot-ai's analysis arrived.
	// +optional
	AnalyzedAt *metav1.Time `json:"analyzedAt,omitempty"`

	// expiresAt is when an undecided proposal becomes Expired.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// completedAt is when the record reached a terminal phase.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// seal lets the controller recognise records it created itself: an
	// HMAC over the record's UID and recorded fields with a key only the
	// controller can read. A record without a valid seal executes nothing.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Seal string `json:"seal,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=remediations,singular=remediation,shortName=rem,scope=Namespaced,categories=dot-ai
// +kubebuilder:printcolumn:name="Policy",type="string",JSONPath=`.spec.policy.name`
// +kubebuilder:printcolumn:name="Phase",type="string",JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Risk",type="string",JSONPath=`.status.proposal.risk`
// +kubebuilder:printcolumn:name="Confidence",type="number",JSONPath=`.status.analysis.confidence`
// +kubebuilder:printcolumn:name="Object",type="string",JSONPath=`.spec.event.involvedObject.name`
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Root-Cause",type="string",JSONPath=`.status.analysis.rootCause`,priority=1

// Remediation is the record of one delivered event occurrence: dot-ai's
// analysis and proposal, a person's decision and what was executed.
type Remediation struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the controller recorded at creation, and the approval.
	// +required
	Spec RemediationSpec `json:"spec,omitzero"`

	// status is what happened, written only by the controller.
	// +optional
	Status RemediationStatus `json:"status,omitzero"`
}

// EffectivePhase is the record's phase, with the phase of the call in
// flight for a record that has none yet (status.phase).
func (r *Remediation) EffectivePhase() RemediationPhase {
	switch {
	case r.Status.Phase != "":
		return r.Status.Phase
	case r.Spec.Mode == ModeAutomatic:
		return PhaseExecuting
	}
	return PhaseAnalyzing
}

// +kubebuilder:object:root=true

// RemediationList is a list of Remediation records.
type RemediationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Remediation `json:"items"`
}
