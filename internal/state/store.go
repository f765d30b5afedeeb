// Package state reads and writes the controller's durable state: the
// ControllerState objects of the release namespace (docs/design/state.md).
// One object per policy holds its checkpoint, one per in-flight automatic
// call its write-ahead intent. Reads go to the API server directly (an
// uncached reader), so no informer is started for them.
package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// Labels and names of state objects.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "dot-ai-controller"
	LabelComponent = "app.kubernetes.io/component"
	LabelPolicyUID = "dot-ai.io/policy-uid"

	ComponentCheckpoint = "checkpoint"
	ComponentIntent     = "intent"

	checkpointPrefix = "checkpoint-"
	intentPrefix     = "intent-"
	// legacyCheckpointPrefix names the checkpoint ConfigMaps of the first
	// format, read once to migrate them.
	legacyCheckpointPrefix = "dot-ai-checkpoint-"
)

// ErrIntentExists means an intent for the occurrence was already written: a
// call may have been sent before, so it must not be sent again.
var ErrIntentExists = errors.New("an intent for this occurrence already exists")

// ErrNewerFormat means a state object was written by a newer controller.
var ErrNewerFormat = errors.New("state written in a newer format")

// Store reads and writes ControllerState objects in one namespace.
type Store struct {
	Namespace string
	// Reader is uncached (the manager's API reader).
	Reader client.Reader
	Writer client.Client
	// Updater, when set (NewUpdater), makes updates answered with metadata
	// only (put); nil updates through Writer.
	Updater rest.Interface
}

// CheckpointName is the name of a policy's checkpoint object.
func CheckpointName(uid types.UID) string { return checkpointPrefix + string(uid) }

// IntentName is the name of an occurrence's intent: a hash of its key, so the
// name is valid whatever the key holds and a second create of the same
// occurrence collides.
func IntentName(occurrenceKey string) string {
	sum := sha256.Sum256([]byte(occurrenceKey))
	return intentPrefix + hex.EncodeToString(sum[:20])
}

// Ref is the policy reference of a state object.
func Ref(p *v1alpha1.RemediationPolicy) v1alpha1.StatePolicyReference {
	return v1alpha1.StatePolicyReference{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)}
}

func (s *Store) meta(name, component, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Namespace: s.Namespace,
		Name:      name,
		Labels:    map[string]string{LabelManagedBy: ManagedBy, LabelComponent: component, LabelPolicyUID: uid},
	}
}

// LoadCheckpoint returns the policy's checkpoint and the object's
// resourceVersion; nil when there is none.
func (s *Store) LoadCheckpoint(ctx context.Context, uid types.UID) (*v1alpha1.CheckpointState, string, error) {
	var obj v1alpha1.ControllerState
	err := s.Reader.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: CheckpointName(uid)}, &obj)
	if apierrors.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	if obj.Spec.FormatVersion > v1alpha1.CurrentStateFormat {
		return nil, "", fmt.Errorf("%w: ControllerState %s/%s has formatVersion %d, this controller reads up to %d", ErrNewerFormat, obj.Namespace, obj.Name, obj.Spec.FormatVersion, v1alpha1.CurrentStateFormat)
	}
	if obj.Spec.Checkpoint == nil {
		return nil, "", fmt.Errorf("ControllerState %s/%s holds no checkpoint", obj.Namespace, obj.Name)
	}
	return obj.Spec.Checkpoint, obj.ResourceVersion, nil
}

// LegacyCheckpoint returns the data of the policy's checkpoint ConfigMap of
// the first format, or nil. The controller may only read ConfigMaps now, so
// a migrated one stays until an operator deletes it (docs/upgrading.md).
func (s *Store) LegacyCheckpoint(ctx context.Context, uid types.UID) (map[string]string, error) {
	var cm corev1.ConfigMap
	err := s.Reader.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: legacyCheckpointPrefix + string(uid)}, &cm)
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if cm.Data == nil {
		return map[string]string{}, nil
	}
	return cm.Data, nil
}

// SaveCheckpoint writes the policy's checkpoint, creating the object if
// needed, and returns the new resourceVersion. The leader is the only
// writer, so a conflict (a write of a previous leader) is resolved by
// overwriting.
func (s *Store) SaveCheckpoint(ctx context.Context, ref v1alpha1.StatePolicyReference, cp *v1alpha1.CheckpointState, rv string) (string, error) {
	obj := &v1alpha1.ControllerState{
		ObjectMeta: s.meta(CheckpointName(types.UID(ref.UID)), ComponentCheckpoint, ref.UID),
		Spec:       v1alpha1.ControllerStateSpec{FormatVersion: v1alpha1.CurrentStateFormat, Policy: ref, Checkpoint: cp},
	}
	return s.save(ctx, obj, rv)
}

// save creates or updates obj, rv being the resourceVersion last written;
// a conflict (a write of a previous leader) is resolved by overwriting.
func (s *Store) save(ctx context.Context, obj *v1alpha1.ControllerState, rv string) (string, error) {
	for attempt := 0; ; attempt++ {
		var err error
		if rv == "" {
			err = s.Writer.Create(ctx, obj)
			if err == nil {
				return obj.ResourceVersion, nil
			}
			if !apierrors.IsAlreadyExists(err) {
				return "", err
			}
		} else {
			obj.ResourceVersion = rv
			if s.Updater != nil {
				err = s.put(ctx, obj)
			} else {
				err = s.Writer.Update(ctx, obj)
			}
			if err == nil {
				return obj.ResourceVersion, nil
			}
			if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				return "", err
			}
		}
		if attempt >= 3 {
			return "", err
		}
		var cur v1alpha1.ControllerState
		switch err := s.Reader.Get(ctx, client.ObjectKeyFromObject(obj), &cur); {
		case apierrors.IsNotFound(err):
			rv = ""
		case err != nil:
			return "", err
		default:
			rv = cur.ResourceVersion
		}
		obj.ResourceVersion = ""
	}
}

// CreateIntent writes the write-ahead intent of a call. ErrIntentExists
// means one was written before (by this or an earlier process).
func (s *Store) CreateIntent(ctx context.Context, ref v1alpha1.StatePolicyReference, in *v1alpha1.IntentState) error {
	obj := &v1alpha1.ControllerState{
		ObjectMeta: s.meta(IntentName(in.OccurrenceKey), ComponentIntent, ref.UID),
		Spec:       v1alpha1.ControllerStateSpec{FormatVersion: v1alpha1.CurrentStateFormat, Policy: ref, Intent: in},
	}
	err := s.Writer.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		return ErrIntentExists
	}
	return err
}

// Intents lists the intents of a policy.
func (s *Store) Intents(ctx context.Context, uid types.UID) ([]v1alpha1.IntentState, error) {
	var list v1alpha1.ControllerStateList
	if err := s.Reader.List(ctx, &list, client.InNamespace(s.Namespace),
		client.MatchingLabels{LabelManagedBy: ManagedBy, LabelComponent: ComponentIntent, LabelPolicyUID: string(uid)}); err != nil {
		return nil, err
	}
	out := make([]v1alpha1.IntentState, 0, len(list.Items))
	for i := range list.Items {
		if in := list.Items[i].Spec.Intent; in != nil {
			out = append(out, *in)
		}
	}
	return out, nil
}

// DeleteIntent removes an occurrence's intent once its outcome is
// checkpointed (or when the call was not made after all).
func (s *Store) DeleteIntent(ctx context.Context, occurrenceKey string) error {
	obj := &v1alpha1.ControllerState{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: IntentName(occurrenceKey)}}
	return client.IgnoreNotFound(s.Writer.Delete(ctx, obj))
}

// DeletePolicy removes the checkpoint, intents and admission record of a
// deleted policy. It lists and deletes one by one (the RBAC grants no
// deletecollection), each with its resourceVersion as precondition, so an
// admission record a new policy of the same name just took over stays.
func (s *Store) DeletePolicy(ctx context.Context, uid types.UID) error {
	var list v1alpha1.ControllerStateList
	if err := s.Reader.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{LabelManagedBy: ManagedBy, LabelPolicyUID: string(uid)}); err != nil {
		return err
	}
	for i := range list.Items {
		if err := s.deleteExact(ctx, &list.Items[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) deleteExact(ctx context.Context, obj *v1alpha1.ControllerState) error {
	err := s.Writer.Delete(ctx, obj, client.Preconditions{UID: &obj.UID, ResourceVersion: &obj.ResourceVersion})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// admissionGrace keeps the admission record of a policy the garbage
// collection does not know yet: the webhook records before the policy is
// stored.
const admissionGrace = 10 * time.Minute

// Garbage deletes the state of policies that no longer exist: checkpoints,
// intents and notification intents at once, admission records once they
// are older than admissionGrace.
func (s *Store) Garbage(ctx context.Context, live func(types.UID) bool, now time.Time) error {
	var list v1alpha1.ControllerStateList
	if err := s.Reader.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{LabelManagedBy: ManagedBy}); err != nil {
		return err
	}
	for i := range list.Items {
		obj := &list.Items[i]
		uid := types.UID(obj.Labels[LabelPolicyUID])
		if uid == "" || live(uid) {
			continue
		}
		switch obj.Labels[LabelComponent] {
		case ComponentCheckpoint, ComponentIntent, ComponentNotification:
		case ComponentAdmission:
			if a := obj.Spec.Admission; a != nil && len(a.Specs) > 0 && a.Specs[0].Time != nil && now.Sub(a.Specs[0].Time.Time) < admissionGrace {
				continue
			}
		default:
			continue
		}
		if err := s.deleteExact(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}
