package remediation

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"

	"dot-ai.io/controller/api/v1alpha1"
)

// Watch keeps the Index current from the record informer of c and waits
// until it holds every existing record, so the cap on open proposals counts
// the records of earlier processes from the first delivery on.
func (r *Records) Watch(ctx context.Context, c ctrlcache.Cache) error {
	inf, err := c.GetInformer(ctx, &v1alpha1.Remediation{})
	if err != nil {
		return fmt.Errorf("getting the Remediation informer: %w", err)
	}
	set := func(obj any) {
		if rec, ok := obj.(*v1alpha1.Remediation); ok {
			r.Index.Set(types.NamespacedName{Namespace: rec.Namespace, Name: rec.Name}, rec.EffectivePhase())
		}
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if rec, ok := obj.(*v1alpha1.Remediation); ok {
				r.Index.Delete(types.NamespacedName{Namespace: rec.Namespace, Name: rec.Name})
			}
		},
	})
	if err != nil {
		return fmt.Errorf("adding the Remediation handler: %w", err)
	}
	go func() {
		<-ctx.Done()
		_ = inf.RemoveEventHandler(reg)
	}()
	if !toolscache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return fmt.Errorf("waiting for the Remediation cache: %w", ctx.Err())
	}
	return nil
}
