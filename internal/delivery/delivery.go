// Package delivery is the seam between the event watcher and what happens to
// a selected event (enrichment and the MCP call). The watcher decides which
// event occurrences to deliver and when; a Deliverer turns one occurrence into
// one outcome. Keeping the contract here lets both sides be built and tested
// alone.
package delivery

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/policy"
)

// Request is one event occurrence selected by one policy.
type Request struct {
	// Policy is a read-only snapshot of the policy (defaulted by the webhook).
	Policy *v1alpha1.RemediationPolicy
	// Event is the read-only event occurrence, as a core/v1 Event.
	Event *corev1.Event
	// SelectorIndex is the index of the first matching eventSelector.
	SelectorIndex int
	// Effective is every setting in force for this occurrence (the
	// selector's overrides, the policy, the installation's defaults), resolved
	// once per policy generation by internal/policy: the deliverer and the
	// enricher read it and never work out a default again.
	Effective policy.Effective
	// OccurrenceKey identifies the occurrence (policy UID, event UID and
	// occurrence count); the MCP client sends it as the idempotency key.
	OccurrenceKey string
	// SeenAt is when the watcher first saw the occurrence.
	SeenAt time.Time
}

// Result is how one delivery ended.
type Result struct {
	// Outcome is recorded in the policy's status.recentOutcomes and counted.
	Outcome v1alpha1.RemediationOutcome
	// ConditionReason, when set, says something about the policy's health
	// (v1alpha1.ReasonMCPUnauthorized, ReasonMCPUnreachable,
	// ReasonInvalidSecretRef); the watcher reflects it in the Ready condition.
	// Empty after a successful call, which clears such a reason.
	ConditionReason  string
	ConditionMessage string
	// RequeueAfter > 0 means the call was not made (for example the
	// endpoint's circuit breaker is open): the event stays queued and is
	// offered again after this delay instead of being counted as failed.
	RequeueAfter time.Duration
}

// Deliverer delivers one event occurrence. It must be safe for concurrent
// use, honour ctx, and never panic on bad input.
type Deliverer interface {
	Deliver(ctx context.Context, req Request) Result
}
