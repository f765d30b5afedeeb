package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/policy"
)

// Message is what one destination receives: a window's items of one
// policy, the first ones listed and the rest counted.
type Message struct {
	// ID is stable for the message's content, so a receiver can spot a
	// duplicate (the CloudEvents id).
	ID        string
	Policy    types.NamespacedName
	PolicyUID types.UID
	Kind      policy.DestinationKind
	Items     []Item
	// More counts the items not listed.
	More int
}

// Total is the number of items the message reports.
func (m *Message) Total() int { return len(m.Items) + m.More }

// messageID hashes the policy, destination and the listed items' keys.
func messageID(m *Message) string {
	h := sha256.New()
	h.Write(fmt.Appendf(nil, "%s\x00%s\x00%d", m.Policy, m.Kind, m.More))
	for i := range m.Items {
		h.Write(fmt.Appendf(nil, "\x00%s\x00%s", m.Items[i].Key, m.Items[i].Phase))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// title says in a line what an item reports.
func title(it *Item) string {
	what := it.EventReason + " on " + it.Object
	if it.Phase == PhaseStart {
		return "Analysing " + what
	}
	switch it.Outcome.Result {
	case v1alpha1.OutcomeAnalysisCompleted:
		return "Analysis ready: " + what
	case v1alpha1.OutcomeRemediationSucceeded:
		return "Remediated: " + what
	case v1alpha1.OutcomeRemediationFailed:
		return "Remediation failed: " + what
	case v1alpha1.OutcomeDeliveryFailed:
		return "dot-ai could not be reached for " + what
	case v1alpha1.OutcomeBudgetExceeded:
		return "Analysis budget spent, not analysed: " + what
	case v1alpha1.OutcomeInterrupted:
		return "Remediation interrupted, check it: " + what
	}
	return string(it.Outcome.Result) + ": " + what
}

// groupTitle heads a message with more than one item.
func groupTitle(m *Message) string {
	return fmt.Sprintf("%d notifications from policy %s", m.Total(), m.Policy)
}

// confidence formats dot-ai's confidence as a percentage, "" when unknown.
func confidence(it *Item) string {
	if it.Report == nil || it.Report.Analysis == nil || it.Report.Analysis.Confidence == 0 {
		return ""
	}
	return strconv.Itoa(int(it.Report.Analysis.Confidence*100+0.5)) + "%"
}

// rootCause is dot-ai's root cause, else the recorded one.
func rootCause(it *Item) string {
	if it.Report != nil && it.Report.Analysis != nil && it.Report.Analysis.RootCause != "" {
		return it.Report.Analysis.RootCause
	}
	return it.Outcome.RootCause
}

func sessionID(it *Item) string {
	if it.Report != nil && it.Report.SessionID != "" {
		return it.Report.SessionID
	}
	return it.Outcome.SessionID
}

// approveCommand is the plugin command that approves the item's
// Remediation record, "" without one.
func approveCommand(it *Item) string {
	if it.Record == "" {
		return ""
	}
	return "kubectl dot-ai approve " + it.Record + " -n " + it.Policy.Namespace
}
