package remediation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/text"
)

// ErrExists means the occurrence's record exists already: its call may have
// been sent by an earlier process.
var ErrExists = errors.New("the occurrence's Remediation record exists")

// Records writes Remediation records. Only the leader writes them.
type Records struct {
	// Client writes; Reader reads uncached (a record's state decides what
	// is sent, so it is never taken from a cache).
	Client client.Client
	Reader client.Reader
	Sealer *Sealer
	Index  *Index
	// Settings are the remediations block of the installation's settings.
	Settings config.Remediations
	// Recorder posts an Event on the record at each phase change (nil: none).
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Log      logr.Logger
}

// Begin creates the record of an occurrence before its call leaves, so it
// is the call's write-ahead intent: one request. Its status is not written
// (status.phase stays empty, which means the call is in flight: phase in
// the returned copy, see Remediation.EffectivePhase) but with the answer,
// from the returned copy (UpdateFrom): a delivery costs the create and one
// status write, and one Event, at the answer (docs/design/remediation-records.md).
// ErrExists means the record was there already; it is returned in cur.
func (r *Records) Begin(ctx context.Context, rec *v1alpha1.Remediation, phase v1alpha1.RemediationPhase) (cur *v1alpha1.Remediation, err error) {
	key := client.ObjectKeyFromObject(rec)
	err = r.Client.Create(ctx, rec)
	countWrite("create", err)
	if apierrors.IsAlreadyExists(err) {
		var existing v1alpha1.Remediation
		if gerr := r.Reader.Get(ctx, key, &existing); gerr != nil {
			return nil, errors.Join(ErrExists, gerr)
		}
		return &existing, ErrExists
	}
	if err != nil {
		return nil, err
	}
	now := metav1.NewTime(r.Clock.Now())
	rec.Status = v1alpha1.RemediationStatus{Phase: phase}
	if phase == v1alpha1.PhaseExecuting {
		rec.Status.Execution = &v1alpha1.RemediationExecution{StartedAt: &now}
	}
	r.Index.Set(key, phase)
	return rec, nil
}

// Update re-reads the record and applies change to it, then writes its
// status, sealed again; change returns false to write nothing. Conflicts
// are retried on a fresh read.
func (r *Records) Update(ctx context.Context, key types.NamespacedName, change func(*v1alpha1.Remediation) bool) (*v1alpha1.Remediation, error) {
	return r.UpdateFrom(ctx, key, nil, change)
}

// UpdateFrom is Update starting from last, the record as this process last
// wrote it (nil: read it): a delivery's answer costs one request, not two,
// unless the record changed meanwhile.
func (r *Records) UpdateFrom(ctx context.Context, key types.NamespacedName, last *v1alpha1.Remediation, change func(*v1alpha1.Remediation) bool) (*v1alpha1.Remediation, error) {
	var err error
	for range 5 {
		var rec v1alpha1.Remediation
		if last != nil {
			last.DeepCopyInto(&rec)
			last = nil
		} else if gerr := r.Reader.Get(ctx, key, &rec); gerr != nil {
			return nil, gerr
		}
		old := rec.Status.Phase
		if !change(&rec) {
			return &rec, nil
		}
		if err = r.writeStatus(ctx, &rec); err == nil {
			r.Index.Set(key, rec.Status.Phase)
			r.event(&rec, old, rec.Status.Phase)
			return &rec, nil
		}
		if !apierrors.IsConflict(err) {
			return nil, err
		}
	}
	return nil, err
}

// writeStatus seals and writes rec's status with its resourceVersion, so a
// concurrent change is a conflict, never overwritten.
func (r *Records) writeStatus(ctx context.Context, rec *v1alpha1.Remediation) error {
	s, err := r.Sealer.Seal(ctx, rec)
	if err != nil {
		return err
	}
	rec.Status.Seal = s
	// The API server takes a subresource write's managed fields from the
	// stored object and ignores the request's: sending them only costs it
	// their decoding (about a third of a record's bytes).
	rec.ManagedFields = nil
	err = r.Client.Status().Update(ctx, rec)
	countWrite("status", err)
	return err
}

// Create writes a record whose outcome is known before any call (a delivery
// that failed before its call could leave): create and status at once.
func (r *Records) Create(ctx context.Context, rec *v1alpha1.Remediation, st v1alpha1.RemediationStatus) error {
	key := client.ObjectKeyFromObject(rec)
	err := r.Client.Create(ctx, rec)
	countWrite("create", err)
	if apierrors.IsAlreadyExists(err) {
		_, err = r.Update(ctx, key, func(cur *v1alpha1.Remediation) bool {
			if cur.Status.Phase.Terminal() {
				return false
			}
			cur.Status = mergeStatus(cur.Status, st)
			return true
		})
		return err
	}
	if err != nil {
		return err
	}
	rec.Status = st
	if err := r.writeStatus(ctx, rec); err != nil {
		return err
	}
	r.Index.Set(key, st.Phase)
	r.event(rec, "", st.Phase)
	return nil
}

// mergeStatus keeps what an earlier write recorded (the start of an
// execution) under a new outcome.
func mergeStatus(old, st v1alpha1.RemediationStatus) v1alpha1.RemediationStatus {
	if st.Execution == nil {
		st.Execution = old.Execution
	} else if old.Execution != nil && st.Execution.StartedAt == nil {
		st.Execution.StartedAt = old.Execution.StartedAt
	}
	return st
}

// event posts a Kubernetes Event on the record for a phase change.
func (r *Records) event(rec *v1alpha1.Remediation, from, to v1alpha1.RemediationPhase) {
	if r.Recorder == nil || from == to || to == "" {
		return
	}
	typ := corev1.EventTypeNormal
	switch to {
	case v1alpha1.PhaseFailed, v1alpha1.PhaseInterrupted, v1alpha1.PhaseExpired, v1alpha1.PhasePartiallyResolved:
		typ = corev1.EventTypeWarning
	}
	note := fmt.Sprintf("Phase %s", to)
	if from != "" {
		note = fmt.Sprintf("Phase %s to %s", from, to)
	}
	if m := rec.Status.Message; m != "" {
		note += ": " + m
	}
	r.Recorder.Eventf(rec, nil, typ, string(to), "Record", "%s", text.Truncate(note, 1000))
}

// ExpiresAt is when a proposal analysed at t expires.
func (r *Records) ExpiresAt(t time.Time) *metav1.Time {
	return new(metav1.NewTime(t.Add(r.Settings.ApprovalWindow)))
}
