package watcher

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"dot-ai.io/controller/internal/policy"
)

// The caches the pipeline reads: Pods, Namespaces and the workload kinds of
// objects.go, each reduced by transform to what selection and enrichment
// need. Events are not cached (eventintake.go).

const (
	// maxMessageBytes bounds the message of an event in the pipeline.
	maxMessageBytes = 2048
)

// transform keeps only what the pipeline and enrichment need in the caches.
// A Pod becomes a policy.PodSummary: a corev1.Pod is 1,240 bytes even when
// almost all of it is zero (docs/benchmarks.md#object-caches).
func transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return policy.NewPodSummary(reduceMeta(&o.ObjectMeta), &o.Status), nil
	case *metav1.PartialObjectMetadata:
		// Labels: namespaceSelector and CEL's object; short annotations:
		// CEL's object and the opt-out annotation; owner references: owner
		// chains.
		o.ObjectMeta = reduceMeta(&o.ObjectMeta)
		return o, nil
	}
	return obj, nil
}

func (w *Watcher) podLookup(namespace, name string) *policy.PodSummary {
	obj, ok, err := w.pods.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	p, _ := obj.(*policy.PodSummary)
	return p
}

func (w *Watcher) nsLabels(name string) (map[string]string, bool) {
	obj, ok, err := w.namespaces.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil, false
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return nil, false
	}
	return m.Labels, true
}

func (w *Watcher) ownerLookup(kind, namespace, name string) (*metav1.OwnerReference, bool) {
	key := namespace + "/" + name
	switch kind {
	case "Pod":
		if p := w.podLookup(namespace, name); p != nil {
			return metav1.GetControllerOfNoCopy(p), true
		}
	case "ReplicaSet", "Job":
		gk := schema.GroupKind{Group: "apps", Kind: kind}
		if kind == "Job" {
			gk.Group = "batch"
		}
		if m := storeMeta(w.workloads[gk], key); m != nil {
			return metav1.GetControllerOfNoCopy(m), true
		}
	}
	return nil, false
}

// objectGone reports whether the event's involved object no longer exists
// (checked for events found at start-up only). Pods come from the cache;
// other kinds are read through the metadata API. Errors count as present.
func (w *Watcher) objectGone(ctx context.Context, ev *corev1.Event) bool {
	ref := ev.InvolvedObject
	ns := ref.Namespace
	if ns == "" {
		ns = ev.Namespace
	}
	if ref.Kind == "Pod" {
		p := w.podLookup(ns, ref.Name)
		return p == nil || (ref.UID != "" && p.UID != ref.UID)
	}
	// Other kinds cost an API call; remember answers during start-up (many
	// events name the same object).
	key := involvedKey(ns, ref.Kind, ref.Name) + "/" + string(ref.UID)
	w.goneMu.Lock()
	gone, ok := w.goneMemo[key]
	w.goneMu.Unlock()
	if ok {
		return gone
	}
	gone = w.objectGoneAPI(ctx, ref, ns)
	w.goneMu.Lock()
	if w.goneMemo != nil {
		w.goneMemo[key] = gone
	}
	w.goneMu.Unlock()
	return gone
}

func (w *Watcher) objectGoneAPI(ctx context.Context, ref corev1.ObjectReference, ns string) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || ref.Kind == "" || ref.Name == "" {
		return false
	}
	m, err := w.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		return false
	}
	var obj *metav1.PartialObjectMetadata
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		obj, err = w.meta.Resource(m.Resource).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	} else {
		obj, err = w.meta.Resource(m.Resource).Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return true
	}
	return err == nil && ref.UID != "" && obj.UID != ref.UID
}

// involvedKey names an involved object.
func involvedKey(ns, kind, name string) string { return ns + "/" + kind + "/" + name }
