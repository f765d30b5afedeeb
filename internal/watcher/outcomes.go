package watcher

import (
	corev1 "k8s.io/api/core/v1"

	"dot-ai.io/controller/api/v1alpha1"
)

// outcome is how one selected event occurrence ended: every occurrence ends
// in exactly one, counted in status and metrics (decision 4 (docs/design/decisions.md#d4)).
type outcome int

const (
	outcomeAnalysis outcome = iota
	outcomeSucceeded
	outcomeFailed
	outcomeDelivFailed
	outcomeRateLimited
	outcomeCooledDown
	outcomeDropped
	outcomeSkipped
	outcomeBudgetExceeded
	outcomeInterrupted
	outcomeDryRun
	outcomeBelowThreshold
	outcomeProposalCap
)

// outcomeSpec is everything an outcome is reported as.
type outcomeSpec struct {
	// label is its value of the outcome label of dotai_event_outcomes_total
	// (and of dotai_deliveries_total for delivery results). Labels are
	// bounded: no policy, event or object names.
	label string
	// counter is the status counter it adds to, besides the total.
	counter func(*counts) *int64
	// reason and eventType make the Kubernetes Event posted on the policy.
	reason, eventType string
	// result is the Deliverer's result that ends in this outcome; empty for
	// outcomes decided before delivery.
	result v1alpha1.OutcomeResult
}

// outcomes is the one table of outcomes: adding one is a line here (and its
// name above).
var outcomes = [...]outcomeSpec{
	outcomeAnalysis:    {"analysis_completed", func(s *counts) *int64 { return &s.AnalysesCompleted }, "AnalysisCompleted", corev1.EventTypeNormal, v1alpha1.OutcomeAnalysisCompleted},
	outcomeSucceeded:   {"remediation_succeeded", func(s *counts) *int64 { return &s.SuccessfulRemediations }, "RemediationSucceeded", corev1.EventTypeNormal, v1alpha1.OutcomeRemediationSucceeded},
	outcomeFailed:      {"remediation_failed", func(s *counts) *int64 { return &s.FailedRemediations }, "RemediationFailed", corev1.EventTypeWarning, v1alpha1.OutcomeRemediationFailed},
	outcomeDelivFailed: {"delivery_failed", func(s *counts) *int64 { return &s.FailedRemediations }, "DeliveryFailed", corev1.EventTypeWarning, v1alpha1.OutcomeDeliveryFailed},
	outcomeRateLimited: {"rate_limited", func(s *counts) *int64 { return &s.RateLimitedEvents }, "RateLimited", corev1.EventTypeNormal, ""},
	outcomeCooledDown:  {"cooled_down", func(s *counts) *int64 { return &s.CooledDownEvents }, "CooledDown", corev1.EventTypeNormal, ""},
	outcomeDropped:     {"dropped", func(s *counts) *int64 { return &s.DroppedEvents }, "Dropped", corev1.EventTypeWarning, ""},
	outcomeSkipped:     {"skipped", func(s *counts) *int64 { return &s.SkippedEvents }, "Skipped", corev1.EventTypeNormal, ""},
	// Decided by the guardrails deliverer before any call (internal/delivery/guard).
	outcomeBudgetExceeded: {"budget_exceeded", func(s *counts) *int64 { return &s.BudgetExceededEvents }, "BudgetExceeded", corev1.EventTypeWarning, v1alpha1.OutcomeBudgetExceeded},
	// An automatic-mode call whose answer never came (decision 17 (docs/design/decisions.md#d17)
	// (docs/design/decisions.md#d17)): decided by the watcher, or by the
	// deliverer when an earlier process left the occurrence's intent.
	outcomeInterrupted: {"interrupted", func(s *counts) *int64 { return &s.InterruptedRemediations }, "RemediationInterrupted", corev1.EventTypeWarning, v1alpha1.OutcomeInterrupted},
	// A dry-run policy's request, built and not sent (internal/delivery/dotai).
	outcomeDryRun: {"dry_run", func(s *counts) *int64 { return &s.DryRunEvents }, "DryRun", corev1.EventTypeNormal, v1alpha1.OutcomeDryRun},
	// Held back by minOccurrences (recurrence.go).
	outcomeBelowThreshold: {"below_threshold", func(s *counts) *int64 { return &s.BelowThresholdEvents }, "BelowThreshold", corev1.EventTypeNormal, ""},
	// Not sent: the namespace holds remediations.maxOpenPerNamespace open
	// proposals already (deliver, internal/remediation).
	outcomeProposalCap: {"proposal_cap", func(s *counts) *int64 { return &s.ProposalCapEvents }, "ProposalCapReached", corev1.EventTypeWarning, v1alpha1.OutcomeProposalCapReached},
}

// counts is shorthand for the table's counter column.
type counts = v1alpha1.OutcomeCounts

func (o outcome) spec() outcomeSpec { return outcomes[o] }

// String is the outcome's metric label.
func (o outcome) String() string { return outcomes[o].label }

// deliveryOutcome maps a Deliverer's result to its outcome; a result the
// table does not know is a delivery failure.
func deliveryOutcome(result v1alpha1.OutcomeResult) outcome {
	for o, spec := range &outcomes {
		if spec.result != "" && spec.result == result {
			return outcome(o)
		}
	}
	return outcomeDelivFailed
}
