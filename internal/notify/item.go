// Package notify sends notifications about recorded outcomes to Slack,
// Google Chat and CloudEvents receivers, on its own bounded queue and
// workers so that a slow or failing destination never slows delivery
// (decision 21 (docs/design/decisions.md#d21)). It groups a burst into one
// message per policy and destination per window, caps the messages a
// destination gets per minute, retries 429 and 5xx answers, and counts
// every notification it was handed in exactly one outcome. Webhook URLs are
// credentials: they are read from Secrets at send time and never logged,
// counted by or written to anything. docs/notifications.md describes it.
package notify

import (
	"slices"

	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/policy"
)

// mcpResult is dot-ai's answer (data.result).
type mcpResult = mcp.Result

// Phase says what an item reports: a call that started, or an outcome.
type Phase string

// The phases.
const (
	PhaseStart    Phase = "start"
	PhaseComplete Phase = "complete"
)

// Item is one thing to notify: a recorded outcome, or a started call.
type Item struct {
	Policy    types.NamespacedName
	PolicyUID types.UID
	// Key identifies the event occurrence (the watcher's occurrence key).
	Key   string
	Phase Phase
	// Namespace and Object ("Kind/name") are the involved object's.
	Namespace string
	Object    string
	// EventReason and EventMessage are the Kubernetes Event's.
	EventReason  string
	EventMessage string
	Mode         v1alpha1.RemediationMode
	// Outcome is the recorded outcome (PhaseComplete).
	Outcome v1alpha1.RemediationOutcome
	// Report is dot-ai's answer when there was one: confidence, risk, the
	// proposed actions, what was executed and its validation.
	Report *mcpResult
	// Record names the Remediation record of the outcome, when such records
	// exist; the message then shows the approve command.
	Record string
	// Seq numbers the item in its policy's notification account (the
	// watcher's checkpoint), which Options.OnEnded keeps; 0: not accounted.
	Seq uint64
}

// outcomeKind is the filter kind of an outcome result; "" is not notified.
func outcomeKind(r v1alpha1.OutcomeResult) v1alpha1.NotificationOutcomeKind {
	switch r {
	case v1alpha1.OutcomeAnalysisCompleted:
		return v1alpha1.NotifyAnalyses
	case v1alpha1.OutcomeRemediationSucceeded:
		return v1alpha1.NotifyRemediations
	case v1alpha1.OutcomeRemediationFailed, v1alpha1.OutcomeDeliveryFailed, v1alpha1.OutcomeInterrupted, v1alpha1.OutcomeBudgetExceeded:
		return v1alpha1.NotifyFailures
	}
	return ""
}

// risk is the item's proposed remediation risk, "" when unknown.
func (it *Item) risk() string {
	if it.Report != nil && it.Report.Remediation != nil {
		return it.Report.Remediation.Risk
	}
	return ""
}

// Wants reports whether destination d is to be told about it: the phase
// is switched on, the outcome's kind is in the filter and its risk is not
// below the filter's minimum (an unknown risk passes).
func Wants(d policy.Destination, it *Item) bool {
	if it.Phase == PhaseStart {
		return d.NotifyOnStart
	}
	if !d.NotifyOnComplete {
		return false
	}
	kind := outcomeKind(it.Outcome.Result)
	if kind == "" {
		return false
	}
	if len(d.Outcomes) > 0 && !slices.Contains(d.Outcomes, kind) {
		return false
	}
	if d.MinRisk != "" {
		if r := v1alpha1.RiskLevel(it.risk()).Rank(); r > 0 && r < d.MinRisk.Rank() {
			return false
		}
	}
	return true
}

// Notified reports whether an outcome result is ever notified (the watcher
// skips building items for the others).
func Notified(r v1alpha1.OutcomeResult) bool { return outcomeKind(r) != "" }
