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
)

// outcomeSpec is everything an outcome is reported as.
type outcomeSpec struct {
	// label is its value of the outcome label of dotai_event_outcomes_total
	// (and of dotai_deliveries_total for delivery results). Labels are
	// bounded: no policy, event or object names.
	label string
	// counter is the status counter it adds to, besides the total.
	counter func(*counters) *int64
	// reason and eventType make the Kubernetes Event posted on the policy.
	reason, eventType string
	// result is the Deliverer's result that ends in this outcome; empty for
	// outcomes decided before delivery.
	result v1alpha1.OutcomeResult
}

// outcomes is the one table of outcomes: adding one is a line here (and its
// name above).
var outcomes = [...]outcomeSpec{
	outcomeAnalysis:    {"analysis_completed", func(c *counters) *int64 { return &c.analyses }, "AnalysisCompleted", corev1.EventTypeNormal, v1alpha1.OutcomeAnalysisCompleted},
	outcomeSucceeded:   {"remediation_succeeded", func(c *counters) *int64 { return &c.succeeded }, "RemediationSucceeded", corev1.EventTypeNormal, v1alpha1.OutcomeRemediationSucceeded},
	outcomeFailed:      {"remediation_failed", func(c *counters) *int64 { return &c.failed }, "RemediationFailed", corev1.EventTypeWarning, v1alpha1.OutcomeRemediationFailed},
	outcomeDelivFailed: {"delivery_failed", func(c *counters) *int64 { return &c.failed }, "DeliveryFailed", corev1.EventTypeWarning, v1alpha1.OutcomeDeliveryFailed},
	outcomeRateLimited: {"rate_limited", func(c *counters) *int64 { return &c.rateLimited }, "RateLimited", corev1.EventTypeNormal, ""},
	outcomeCooledDown:  {"cooled_down", func(c *counters) *int64 { return &c.cooledDown }, "CooledDown", corev1.EventTypeNormal, ""},
	outcomeDropped:     {"dropped", func(c *counters) *int64 { return &c.dropped }, "Dropped", corev1.EventTypeWarning, ""},
	outcomeSkipped:     {"skipped", func(c *counters) *int64 { return &c.skipped }, "Skipped", corev1.EventTypeNormal, ""},
	// Decided by the guardrails deliverer before any call (internal/delivery/guard).
	outcomeBudgetExceeded: {"budget_exceeded", func(c *counters) *int64 { return &c.budgetExceeded }, "BudgetExceeded", corev1.EventTypeWarning, v1alpha1.OutcomeBudgetExceeded},
}

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
