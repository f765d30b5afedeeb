package watcher

import (
	"time"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"dot-ai.io/controller/api/v1alpha1"
)

// TestOutcomeTable: every outcome has a label, a counter, an Event reason and
// an Event type; labels, reasons and delivery results are unique, and each
// counter is a distinct status field except the two kinds of failure.
func TestOutcomeTable(t *testing.T) {
	require.Len(t, outcomes, int(outcomeProposalCap)+1, "every outcome constant has a row")
	labels, reasons, results := map[string]bool{}, map[string]bool{}, map[v1alpha1.OutcomeResult]bool{}
	for o, spec := range outcomes {
		name := outcome(o).String()
		assert.NotEmpty(t, spec.label, "outcome %d label", o)
		assert.NotEmpty(t, spec.reason, "%s: Event reason", name)
		assert.Contains(t, []string{corev1.EventTypeNormal, corev1.EventTypeWarning}, spec.eventType, "%s: Event type", name)
		require.NotNil(t, spec.counter, "%s: counter", name)
		assert.False(t, labels[spec.label], "%s: label unique", name)
		assert.False(t, reasons[spec.reason], "%s: reason unique", name)
		labels[spec.label], reasons[spec.reason] = true, true
		if spec.result != "" {
			assert.False(t, results[spec.result], "%s: result unique", name)
			results[spec.result] = true
			assert.Equal(t, outcome(o), deliveryOutcome(spec.result), "%s: its result maps back to it", name)
		}

		c := newCheckpoint(time.Time{})
		c.record(outcome(o), nil, time.Unix(1, 0))
		assert.Equal(t, int64(1), c.Counts.TotalEventsProcessed, "%s: counted in the total", name)
		assert.Equal(t, int64(1), *spec.counter(&c.Counts), "%s: counted in its counter", name)
		assert.Equal(t, c.Counts.TotalEventsProcessed, c.Counts.OutcomeSum(), "%s: status counters add up", name)
	}
	assert.Equal(t, outcomeDelivFailed, deliveryOutcome("Unknown"), "an unknown result is a delivery failure")
	assert.Equal(t, outcomeDelivFailed, deliveryOutcome(""), "no result is a delivery failure")
}
