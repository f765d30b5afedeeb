// Package delivery is the seam between the event watcher and what happens to
// a selected event (enrichment and the MCP call). The watcher decides which
// event occurrences to deliver and when; a Deliverer turns one occurrence into
// one outcome. Keeping the contract here lets both sides be built and tested
// alone.
package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp"
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
	// BeforeSend, when set, writes the occurrence's Remediation record: the
	// write-ahead intent of a call that can change the cluster (decision 17 (docs/design/decisions.md#d17)
	// (docs/design/decisions.md#d17)). The Deliverer calls it right before
	// the request may leave and sends nothing when it fails; ErrInterrupted
	// means an earlier process may have sent it already, so the occurrence
	// ends as Interrupted; ErrAnswered that an earlier process recorded the
	// answer. It may be called again for the same request (a held occurrence
	// offered again).
	BeforeSend func(ctx context.Context) error
}

// ErrInterrupted is returned by Request.BeforeSend when the occurrence's
// intent already exists.
var ErrInterrupted = errors.New("an earlier call of this occurrence may have been sent")

// ErrAnswered is returned by Request.BeforeSend when an earlier process sent
// this manual-mode occurrence and recorded dot-ai's answer: the analysis is
// not sent again and the occurrence counts as analysed.
var ErrAnswered = errors.New("an earlier call of this occurrence was answered and recorded")

// IdempotencyKey is the Idempotency-Key sent for an occurrence: a hash of the
// policy UID and the occurrence key, so a re-sent analysis carries the same
// one and dot-ai can find the call.
func IdempotencyKey(policyUID, occurrenceKey string) string {
	sum := sha256.Sum256([]byte(policyUID + "\x00" + occurrenceKey))
	return hex.EncodeToString(sum[:16])
}

// Interrupted is the outcome of an automatic-mode occurrence whose call may
// have been sent but whose answer never arrived. The message tells the user
// how to check it in dot-ai; the call is never sent again.
func Interrupted(idempotencyKey, why string) v1alpha1.RemediationOutcome {
	return v1alpha1.RemediationOutcome{
		Result: v1alpha1.OutcomeInterrupted,
		Message: why + "; the automatic remediation may have run and is not sent again. " +
			"Check dot-ai's remediation for Idempotency-Key " + idempotencyKey + " (docs/delivery-guarantees.md#interrupted)",
	}
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
	// Report is dot-ai's answer (data.result) when the call returned one:
	// notifications show its confidence, risk, actions and validation.
	// Read-only.
	Report *mcp.Result
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
