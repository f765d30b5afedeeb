package remediation

import (
	"context"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// Sweeper expires undecided proposals, ends as Interrupted the automatic-mode
// calls in flight whose policy was deleted (orphans.go), and keeps each namespace's records
// within the retention bounds: at most RetentionCount records in a terminal
// phase, none older than RetentionAge, the oldest deleted first. Open
// records are never deleted (their number has its own cap, Index.Reserve).
// Records are not owned by their policy: deleting a policy keeps its audit
// trail until retention removes it.
type Sweeper struct {
	Records *Records
	// List reads the records (the manager's cache).
	List client.Reader
	// Interval between sweeps (default 30s).
	Interval time.Duration
	// InFlightBound is the age after which an automatic-mode record still
	// in flight whose policy is gone is Interrupted (InFlightBound()); zero
	// leaves such records alone.
	InFlightBound time.Duration
}

// NeedLeaderElection is true: only the leader writes records.
func (s *Sweeper) NeedLeaderElection() bool { return true }

// Start sweeps every Interval until ctx ends.
func (s *Sweeper) Start(ctx context.Context) error {
	iv := s.Interval
	if iv <= 0 {
		iv = 30 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.Records.Log.Error(err, "Remediation sweep failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep runs once: expiry first, so an expired proposal counts towards
// retention in the same sweep.
func (s *Sweeper) Sweep(ctx context.Context) error {
	var list v1alpha1.RemediationList
	if err := s.List.List(ctx, &list); err != nil {
		return err
	}
	now := s.Records.Clock.Now()
	set := s.Records.Settings
	terminal := map[string][]*v1alpha1.Remediation{}
	var live map[types.UID]bool // read once, when a record may be an orphan
	for i := range list.Items {
		rec := &list.Items[i]
		if s.expire(ctx, rec, now) {
			rec.Status.Phase = v1alpha1.PhaseExpired
			rec.Status.CompletedAt = new(metav1.NewTime(now))
		}
		if s.orphanCandidate(rec, now) {
			if live == nil {
				var err error
				if live, err = s.livePolicies(ctx); err != nil {
					return err
				}
			}
			if s.interruptOrphan(ctx, rec, now, live) {
				rec.Status.Phase = v1alpha1.PhaseInterrupted
				rec.Status.CompletedAt = new(metav1.NewTime(now))
			}
		}
		if rec.Status.Phase.Terminal() {
			terminal[rec.Namespace] = append(terminal[rec.Namespace], rec)
		}
	}
	for _, recs := range terminal {
		slices.SortFunc(recs, func(a, b *v1alpha1.Remediation) int { return completed(a).Compare(completed(b)) })
		over := len(recs) - set.RetentionCount
		for i, rec := range recs {
			if i >= over && now.Sub(completed(rec)) <= set.RetentionAge {
				break // sorted: the rest are newer
			}
			uid := rec.UID
			err := client.IgnoreNotFound(s.Records.Client.Delete(ctx, rec, client.Preconditions{UID: &uid}))
			countWrite("delete", err)
			if err != nil {
				return err
			}
			s.Records.Index.Delete(client.ObjectKeyFromObject(rec))
		}
	}
	return nil
}

// completed is when a record reached its terminal phase (its creation for
// a record that does not say).
func completed(r *v1alpha1.Remediation) time.Time {
	if r.Status.CompletedAt != nil {
		return r.Status.CompletedAt.Time
	}
	return r.CreationTimestamp.Time
}

// expire ends a proposal nobody decided within the approval window, and an
// analysis whose answer never came within it (its event is gone, so no
// process will send it again).
func (s *Sweeper) expire(ctx context.Context, rec *v1alpha1.Remediation, now time.Time) bool {
	var msg string
	switch {
	case rec.Status.Phase == v1alpha1.PhaseAwaitingApproval && rec.Spec.Approval == nil &&
		rec.Status.ExpiresAt != nil && now.After(rec.Status.ExpiresAt.Time):
		msg = "Nobody decided within the approval window (remediations.approvalWindow); nothing is executed"
	case rec.EffectivePhase() == v1alpha1.PhaseAnalyzing && now.Sub(rec.CreationTimestamp.Time) > s.Records.Settings.ApprovalWindow:
		msg = "dot-ai's analysis never arrived within the approval window"
	default:
		return false
	}
	from := rec.EffectivePhase()
	_, err := s.Records.Update(ctx, client.ObjectKeyFromObject(rec), func(cur *v1alpha1.Remediation) bool {
		if cur.EffectivePhase() != from || cur.Spec.Approval != nil {
			return false // decided meanwhile: the executor acts on it
		}
		cur.Status.Phase, cur.Status.Message = v1alpha1.PhaseExpired, msg
		cur.Status.CompletedAt = new(metav1.NewTime(now))
		cur.Status.ExpiresAt = nil
		return true
	})
	if err != nil {
		s.Records.Log.Error(err, "Failed to expire a Remediation record", "record", client.ObjectKeyFromObject(rec))
		return false
	}
	return true
}
