package remediation

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// Orphaned automatic-mode calls. The watcher ends a policy's automatic
// records still in flight as Interrupted when it loads that policy's state
// after a restart (loadRecords); a policy deleted while no controller ran
// is never loaded again, so the sweeper ends its records instead, once no
// live process can still be making their call. Nothing is sent: only the
// record's status changes (decision 17 (docs/design/decisions.md#d17), docs/design/decisions.md#d17).

// inFlightSlack covers the answer's write after the call (10 s,
// watcher.recordWriteTimeout) and clock skew between the API server, which
// stamps creationTimestamp, and the leader that compares it with its clock.
const inFlightSlack = time.Minute

// InFlightBound is the longest a live process may keep an automatic-mode
// record in flight: the occurrence may be held for the outage hold and one
// breaker cooldown while its record stays (the record of a held call is
// deleted, but a failed delete keeps it, watcher.dropRecord), then its call
// takes at most call (mcp.Client.MaxCallDuration), then its answer is
// written (a held occurrence waits at least 10 s, dotai.OutageRetry, within
// the slack). A former leader's calls end sooner: its drain timeout cuts
// them off after it lost the lease. Interrupting a call a live process may
// still answer would mislabel its record, so the bound errs long. With the
// defaults: 30m + 30s + 21m30s + 1m = 53m. A re-offered
// occurrence's wait in the queue is not bounded; that case needs a failed
// delete and then the policy's deletion during the re-sent call.
func InFlightBound(call, outageHold, breakerCooldown time.Duration) time.Duration {
	return outageHold + breakerCooldown + call + inFlightSlack
}

// orphanText is the message of a record whose policy went away while its
// call was in flight.
func orphanText(rec *v1alpha1.Remediation) string {
	p := rec.Spec.Policy
	return fmt.Sprintf("Policy %s/%s (uid %s) was deleted while this automatic-mode call was in flight and the controller stopped "+
		"before its answer was recorded; the remediation may have run and is not sent again. "+
		"Check dot-ai's remediation for Idempotency-Key %s (docs/remediations.md#interrupted)",
		p.Namespace, p.Name, p.UID, rec.Spec.IdempotencyKey)
}

// livePolicies is the set of the UIDs of the policies the cache holds.
func (s *Sweeper) livePolicies(ctx context.Context) (map[types.UID]bool, error) {
	var list v1alpha1.RemediationPolicyList
	if err := s.List.List(ctx, &list); err != nil {
		return nil, err
	}
	live := make(map[types.UID]bool, len(list.Items))
	for i := range list.Items {
		live[list.Items[i].UID] = true
	}
	return live, nil
}

// orphanCandidate reports whether a cached record may be an orphan: an
// automatic-mode call in flight for longer than InFlightBound.
func (s *Sweeper) orphanCandidate(rec *v1alpha1.Remediation, now time.Time) bool {
	return s.InFlightBound > 0 && rec.Spec.Mode == v1alpha1.ModeAutomatic &&
		rec.EffectivePhase() == v1alpha1.PhaseExecuting && now.Sub(rec.CreationTimestamp.Time) > s.InFlightBound
}

// interruptOrphan ends a candidate whose policy (by UID: a policy created
// again under the same name is another policy) no longer exists as
// Interrupted, and reports whether it did. The policy is read uncached
// before anything is written. Its occurrence cannot be counted: the counters
// live in the deleted policy's state; the record's Event, its phase in
// dotai_remediation_records and the log say what happened.
func (s *Sweeper) interruptOrphan(ctx context.Context, rec *v1alpha1.Remediation, now time.Time, live map[types.UID]bool) bool {
	if live[types.UID(rec.Labels[LabelPolicyUID])] {
		return false // loadRecords' job, when the policy's state loads
	}
	key := client.ObjectKeyFromObject(rec)
	var cur v1alpha1.Remediation
	if err := s.Records.Reader.Get(ctx, key, &cur); err != nil {
		return false
	}
	ref := cur.Spec.Policy
	var p v1alpha1.RemediationPolicy
	err := s.Records.Reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &p)
	switch {
	case err == nil && string(p.UID) == ref.UID:
		return false
	case err != nil && !apierrors.IsNotFound(err):
		s.Records.Log.Error(err, "Failed to read the policy of a Remediation record in flight", "record", key)
		return false
	}
	msg := orphanText(&cur)
	var done bool
	_, err = s.Records.UpdateFrom(ctx, key, &cur, func(c *v1alpha1.Remediation) bool {
		done = c.Spec.Mode == v1alpha1.ModeAutomatic && c.EffectivePhase() == v1alpha1.PhaseExecuting
		if !done {
			return false // answered meanwhile
		}
		Apply(&c.Status, v1alpha1.PhaseInterrupted, &v1alpha1.RemediationOutcome{Message: msg}, nil, now)
		return true
	})
	if err != nil {
		s.Records.Log.Error(err, "Failed to interrupt a Remediation record whose policy was deleted", "record", key)
		return false
	}
	if done {
		s.Records.Log.Info("Automatic-mode call of a deleted policy interrupted; not sent again", "record", key,
			"policy", ref.Namespace+"/"+ref.Name, "policyUID", ref.UID)
	}
	return done
}
