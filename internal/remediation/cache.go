package remediation

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// CacheTransform reduces a record held by the manager's informer to what is
// read from it: the Index (key and phase, so spec.mode for
// Remediation.EffectivePhase), the executor's trigger (spec.approval and
// phase) and the Sweeper (phase, approval, expiresAt, completedAt,
// creationTimestamp, uid). A storm leaves thousands of records whose
// analyses, proposals and results would otherwise stay decoded in memory
// (issue 20; docs/design/remediation-records.md). Whatever decides what is
// sent or written reads the record uncached (Records.Reader), so a reduced
// copy is never written back.
func CacheTransform(obj any) (any, error) {
	rec, ok := obj.(*v1alpha1.Remediation)
	if !ok {
		return obj, nil
	}
	out := &v1alpha1.Remediation{
		TypeMeta: rec.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Namespace: rec.Namespace, Name: rec.Name, UID: rec.UID, ResourceVersion: rec.ResourceVersion,
			Generation: rec.Generation, CreationTimestamp: rec.CreationTimestamp,
			DeletionTimestamp: rec.DeletionTimestamp, Labels: rec.Labels,
		},
		Spec: v1alpha1.RemediationSpec{Mode: rec.Spec.Mode, Approval: rec.Spec.Approval},
		Status: v1alpha1.RemediationStatus{
			Phase: rec.Status.Phase, ExpiresAt: rec.Status.ExpiresAt, CompletedAt: rec.Status.CompletedAt,
		},
	}
	return out, nil
}

// ManagerCache is the manager's cache setting: records reduced by
// CacheTransform, and no managed fields on any cached object (nothing
// reads them from the cache).
func ManagerCache() ctrlcache.Options {
	return ctrlcache.Options{
		DefaultTransform: ctrlcache.TransformStripManagedFields(),
		ByObject:         map[client.Object]ctrlcache.ByObject{&v1alpha1.Remediation{}: {Transform: CacheTransform}},
	}
}
