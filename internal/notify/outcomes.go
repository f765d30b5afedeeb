package notify

// Outcome is how one notification item ended: every item handed to the
// Notifier ends in exactly one, counted (decision 4 (docs/design/decisions.md#d4)
// (docs/design/decisions.md#d4) applied to notifications).
type Outcome int

// The notification outcomes.
const (
	// Sent: listed in a message the destination accepted.
	Sent Outcome = iota
	// Grouped: counted, not listed, in a message the destination accepted
	// ("and 37 more").
	Grouped
	// DroppedQueueFull: the notification queue was full.
	DroppedQueueFull
	// DroppedRateLimited: the destination had its messages for the minute.
	DroppedRateLimited
	// Failed: the destination refused the message for good, or retries ran
	// out, or its URL could not be read or is not allowed.
	Failed
	// Interrupted: the message's intent was persisted but the process
	// stopped before its answer; it is never sent again.
	Interrupted
	numOutcomes
)

var outcomeLabels = [numOutcomes]string{
	Sent: "sent", Grouped: "grouped", DroppedQueueFull: "dropped_queue_full",
	DroppedRateLimited: "dropped_rate_limited", Failed: "failed", Interrupted: "interrupted",
}

// String is the outcome's metric label.
func (o Outcome) String() string { return outcomeLabels[o] }

// Counts are the notification outcome counters; their sum equals the items
// handed to the Notifier once none is pending.
type Counts [numOutcomes]int64

// Sum adds every outcome up.
func (c Counts) Sum() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}
