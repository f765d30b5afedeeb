package state

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
)

// ComponentPodOwners labels the installation's record of Pods' owners.
const ComponentPodOwners = "pod-owners"

// PodOwnersName is the name of that record: one per installation.
const PodOwnersName = "pod-owners"

// LoadPodOwners returns the record of Pods' owners and its resourceVersion;
// nil when there is none.
func (s *Store) LoadPodOwners(ctx context.Context) (*v1alpha1.PodOwnersState, string, error) {
	var obj v1alpha1.ControllerState
	err := s.Reader.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: PodOwnersName}, &obj)
	if apierrors.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	if obj.Spec.FormatVersion > v1alpha1.CurrentStateFormat {
		return nil, "", fmt.Errorf("%w: ControllerState %s/%s has formatVersion %d, this controller reads up to %d", ErrNewerFormat, obj.Namespace, obj.Name, obj.Spec.FormatVersion, v1alpha1.CurrentStateFormat)
	}
	if obj.Spec.PodOwners == nil {
		return nil, "", fmt.Errorf("ControllerState %s/%s holds no podOwners", obj.Namespace, obj.Name)
	}
	return obj.Spec.PodOwners, obj.ResourceVersion, nil
}

// SavePodOwners writes the record of Pods' owners and returns its new
// resourceVersion.
func (s *Store) SavePodOwners(ctx context.Context, in *v1alpha1.PodOwnersState, rv string) (string, error) {
	obj := &v1alpha1.ControllerState{
		ObjectMeta: s.meta(PodOwnersName, ComponentPodOwners, ""),
		Spec:       v1alpha1.ControllerStateSpec{FormatVersion: v1alpha1.CurrentStateFormat, PodOwners: in},
	}
	return s.save(ctx, obj, rv)
}
