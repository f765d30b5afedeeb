package watcher

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/redact"
	"dot-ai.io/controller/internal/text"
)

// deliveringFailureThreshold is how many deliveries in a row must fail
// before Delivering turns False. One failure is often a blip the MCP client
// already retried (a dot-ai restart, one bad answer), and two can be the same
// blip seen by two workers; three in a row means recent events are being
// lost to a fault that persists, while a policy that sees few events still
// reports it within three of them.
const deliveringFailureThreshold = 3

// deliveryVerdict is what an outcome says about delivery.
type deliveryVerdict int

const (
	// notAttempted: no call was made (rate-limited, cooled down, dropped,
	// skipped); Delivering stays as it is.
	notAttempted deliveryVerdict = iota
	delivered
	deliveryFailed
)

// deliveryVerdicts lists the outcomes of delivery attempts; any outcome not
// listed was decided without a call and leaves Delivering alone. A failed
// remediation is a delivery that reached dot-ai.
var deliveryVerdicts = map[outcome]deliveryVerdict{
	outcomeAnalysis:    delivered,
	outcomeSucceeded:   delivered,
	outcomeFailed:      delivered,
	outcomeDelivFailed: deliveryFailed,
	// A Deliverer's verdict, but the guardrails refused it before any call.
	outcomeBudgetExceeded: notAttempted,
	// The answer never came: nothing is known about the endpoint.
	outcomeInterrupted: notAttempted,
	// Nothing was sent.
	outcomeDryRun: notAttempted,
	// Refused before any call: the namespace's open proposals are at the cap.
	outcomeProposalCap: notAttempted,
}

// deliveryHealth counts a policy's consecutive failed deliveries and derives
// its Delivering condition from them.
type deliveryHealth struct {
	failures int
	// cond is nil until this process attempted a delivery: the condition in
	// status is then left as it is (absent on a new policy, the last
	// verdict after a restart).
	cond *metav1.Condition
}

// observe records one outcome of a delivery made for policy generation gen
// and reports whether the condition's status changed. out is the outcome's record:
// its mcpStatus is the error code of a failed delivery.
func (h *deliveryHealth) observe(oc outcome, out *v1alpha1.RemediationOutcome, gen int64) bool {
	switch deliveryVerdicts[oc] {
	case delivered:
		h.failures = 0
		return h.set(metav1.ConditionTrue, v1alpha1.ReasonDelivered, "The last delivery reached dot-ai", gen)
	case deliveryFailed:
		h.failures++
		if h.failures < deliveringFailureThreshold {
			return false
		}
		return h.set(metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing, failingMessage(h.failures, out), gen)
	default:
		return false
	}
}

func (h *deliveryHealth) set(status metav1.ConditionStatus, reason, msg string, gen int64) bool {
	changed := h.cond == nil || h.cond.Status != status
	h.cond = &metav1.Condition{Type: v1alpha1.ConditionDelivering, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen}
	return changed
}

// failingMessage names the last error's code and message, redacted (a
// server may echo a token, an endpoint may carry userinfo) and bounded.
func failingMessage(failures int, out *v1alpha1.RemediationOutcome) string {
	code, msg := "UNKNOWN", ""
	if out != nil {
		if out.McpStatus != "" {
			code = out.McpStatus
		}
		msg = out.Message
	}
	s := fmt.Sprintf("%d deliveries in a row failed; the last with %s", failures, code)
	if msg != "" {
		s += ": " + msg
	}
	return text.TruncateRunes(redact.Message(s), v1alpha1.MaxConditionMessageLength)
}
