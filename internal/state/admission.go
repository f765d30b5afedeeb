package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/admitted"
)

// ComponentAdmission labels admission records.
const ComponentAdmission = "admission"

const admissionPrefix = "admission-"

// AdmissionName names the admission record of the policy namespace/name: a
// hash, since a record is written before a new policy's UID is stored.
func AdmissionName(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	return admissionPrefix + hex.EncodeToString(sum[:20])
}

// Ledger is the admitted.Ledger kept in ControllerState objects (decision 20 (docs/design/decisions.md#d20)
// (docs/design/decisions.md#d20)): the validating webhook of any replica
// records, the watcher checks. It keeps the last MaxAdmittedSpecs specs of a
// policy, since an update can pass the webhook and still fail afterwards.
type Ledger struct {
	Store *Store
	// Now stamps records; default time.Now.
	Now func() time.Time
}

var _ admitted.Ledger = (*Ledger)(nil)

// MaxAdmittedSpecs is how many admitted specs a record keeps (the CRD's
// maxItems).
const MaxAdmittedSpecs = 8

// Record implements admitted.Ledger.
func (l *Ledger) Record(ctx context.Context, p *v1alpha1.RemediationPolicy) error {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	entry := v1alpha1.AdmittedSpec{SpecHash: admitted.SpecHash(p.Spec), UID: string(p.UID), Time: new(metav1.NewTime(now().UTC()))}
	key := types.NamespacedName{Namespace: l.Store.Namespace, Name: AdmissionName(p.Namespace, p.Name)}
	// Replicas may record the same policy at once: retry conflicts with a
	// short jittered backoff (about 2 s in all).
	backoff := wait.Backoff{Steps: 12, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 1}
	conflict := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	return retry.OnError(backoff, conflict, func() error {
		var obj v1alpha1.ControllerState
		err := l.Store.Reader.Get(ctx, key, &obj)
		switch {
		case apierrors.IsNotFound(err):
			obj = v1alpha1.ControllerState{
				ObjectMeta: l.Store.meta(key.Name, ComponentAdmission, string(p.UID)),
				Spec: v1alpha1.ControllerStateSpec{FormatVersion: v1alpha1.CurrentStateFormat, Policy: Ref(p),
					Admission: &v1alpha1.AdmissionState{Specs: []v1alpha1.AdmittedSpec{entry}}},
			}
			return l.Store.Writer.Create(ctx, &obj)
		case err != nil:
			return err
		}
		specs := []v1alpha1.AdmittedSpec{entry}
		if obj.Spec.Admission != nil {
			for _, s := range obj.Spec.Admission.Specs {
				if s.SpecHash != entry.SpecHash || s.UID != entry.UID {
					specs = append(specs, s)
				}
			}
		}
		obj.Spec.Admission = &v1alpha1.AdmissionState{Specs: specs[:min(len(specs), MaxAdmittedSpecs)]}
		obj.Spec.Policy, obj.Spec.FormatVersion = Ref(p), v1alpha1.CurrentStateFormat
		obj.Labels[LabelPolicyUID] = string(p.UID)
		return l.Store.Writer.Update(ctx, &obj)
	})
}

// Admitted implements admitted.Ledger: the policy's current spec was
// recorded for this policy (same UID; a record without UID was written for
// a create whose UID was not known).
func (l *Ledger) Admitted(ctx context.Context, p *v1alpha1.RemediationPolicy) (bool, error) {
	var obj v1alpha1.ControllerState
	err := l.Store.Reader.Get(ctx, types.NamespacedName{Namespace: l.Store.Namespace, Name: AdmissionName(p.Namespace, p.Name)}, &obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil || obj.Spec.Admission == nil {
		return false, err
	}
	hash := admitted.SpecHash(p.Spec)
	return slices.ContainsFunc(obj.Spec.Admission.Specs, func(s v1alpha1.AdmittedSpec) bool {
		return s.SpecHash == hash && (s.UID == "" || s.UID == string(p.UID))
	}), nil
}
