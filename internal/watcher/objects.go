package watcher

import (
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata/metadatainformer"
	toolscache "k8s.io/client-go/tools/cache"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/celevent"
)

// The involved object's metadata, for CEL's object variable and the opt-out
// annotation (v1alpha1.IgnoreAnnotation): Pods from the Pod cache, Namespaces
// and the workload kinds below from metadata-only caches, each reduced by
// transform to name, namespace, UID, labels, short annotations and owner
// references (docs/benchmarks.md states the memory this costs).

var (
	podGK       = schema.GroupKind{Kind: "Pod"}
	namespaceGK = schema.GroupKind{Kind: "Namespace"}
)

// workloadResources are the owner kinds cached metadata-only: every link of
// the owner chains Pod → ReplicaSet → Deployment, Pod → Job → CronJob,
// Pod → StatefulSet and Pod → DaemonSet.
var workloadResources = map[schema.GroupKind]schema.GroupVersionResource{
	{Group: "apps", Kind: "ReplicaSet"}:  {Group: "apps", Version: "v1", Resource: "replicasets"},
	{Group: "apps", Kind: "Deployment"}:  {Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Kind: "StatefulSet"}: {Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Kind: "DaemonSet"}:   {Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Group: "batch", Kind: "Job"}:        {Group: "batch", Version: "v1", Resource: "jobs"},
	{Group: "batch", Kind: "CronJob"}:    {Group: "batch", Version: "v1", Resource: "cronjobs"},
}

// maxOwnerDepth bounds the owner chain walk (Pod → ReplicaSet → Deployment
// is three objects).
const maxOwnerDepth = 4

// lastApplied is a copy of the whole object kubectl keeps in an annotation:
// never useful to select on, often kilobytes.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func newWorkloadInformers(f metadatainformer.SharedInformerFactory) map[schema.GroupKind]toolscache.SharedIndexInformer {
	out := make(map[schema.GroupKind]toolscache.SharedIndexInformer, len(workloadResources))
	for gk, gvr := range workloadResources {
		out[gk] = f.ForResource(gvr).Informer()
	}
	return out
}

// reduceAnnotations keeps the annotations short enough to select on.
func reduceAnnotations(in map[string]string) map[string]string {
	var out map[string]string
	for k, v := range in {
		if len(v) > celevent.MaxAnnotationValue || k == lastApplied {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(in))
		}
		out[intern(k)] = intern(v)
	}
	return out
}

// internLabels shares the strings of labels: the replicas of a workload
// carry the same keys and values, each decoded into its own allocation.
func internLabels(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[intern(k)] = intern(v)
	}
	return out
}

func intern(s string) string { return unique.Make(s).Value() }

// reduceMeta is the metadata every cached object keeps.
func reduceMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Labels: internLabels(m.Labels), Annotations: reduceAnnotations(m.Annotations), OwnerReferences: m.OwnerReferences,
	}
}

func storeMeta(inf toolscache.SharedIndexInformer, key string) *metav1.ObjectMeta {
	if inf == nil {
		return nil
	}
	obj, ok, err := inf.GetStore().GetByKey(key)
	if err != nil || !ok {
		return nil
	}
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		return &m.ObjectMeta
	}
	return nil
}

// MetaLookup returns an object's metadata, or nil when it is unknown; uid ""
// matches any. The watcher reads its caches; kubectl dot-ai preview reads
// the cluster.
type MetaLookup func(apiVersion, kind, namespace, name string, uid types.UID) *metav1.ObjectMeta

// objectMeta returns the cached metadata of an object (nil when its kind is
// not cached, it is not in the cache, or uid is set and differs). The result
// is the cache's own: read only.
func (w *Watcher) objectMeta(apiVersion, kind, namespace, name string, uid types.UID) *metav1.ObjectMeta {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil
	}
	var m *metav1.ObjectMeta
	switch gk := (schema.GroupKind{Group: gv.Group, Kind: kind}); gk {
	case podGK:
		if p := w.podLookup(namespace, name); p != nil {
			m = &p.ObjectMeta
		}
	case namespaceGK:
		m = storeMeta(w.namespaces, name)
	default:
		m = storeMeta(w.workloads[gk], namespace+"/"+name)
	}
	if m == nil || (uid != "" && m.UID != uid) {
		return nil
	}
	return m
}

// involvedMeta is CEL's object: the event's involved object's metadata.
func (w *Watcher) involvedMeta(ev *corev1.Event) *metav1.ObjectMeta {
	return involvedMetaFrom(ev, w.objectMeta)
}

func involvedMetaFrom(ev *corev1.Event, lookup MetaLookup) *metav1.ObjectMeta {
	if lookup == nil {
		return nil
	}
	ref := ev.InvolvedObject
	return lookup(ref.APIVersion, ref.Kind, involvedNamespace(ev), ref.Name, ref.UID)
}

func involvedNamespace(ev *corev1.Event) string {
	if ev.InvolvedObject.Namespace != "" {
		return ev.InvolvedObject.Namespace
	}
	return ev.Namespace
}

func optedOut(m *metav1.ObjectMeta) bool {
	return m != nil && m.Annotations[v1alpha1.IgnoreAnnotation] == "true"
}

// ignored reports whether the event's namespace, its involved object or one
// of the object's controlling owners carries the opt-out annotation.
func (w *Watcher) ignored(ev *corev1.Event) bool { return ignoredBy(ev, w.objectMeta) }

// ignoredBy is ignored over any lookup. An object the lookup does not know
// (another kind, or already deleted) ends the walk.
func ignoredBy(ev *corev1.Event, lookup MetaLookup) bool {
	if lookup == nil {
		return false
	}
	ns := involvedNamespace(ev)
	if ns != "" && optedOut(lookup("v1", "Namespace", "", ns, "")) {
		return true
	}
	m := involvedMetaFrom(ev, lookup)
	for range maxOwnerDepth {
		if m == nil {
			return false
		}
		if optedOut(m) {
			return true
		}
		o := metav1.GetControllerOfNoCopy(m)
		if o == nil {
			return false
		}
		m = lookup(o.APIVersion, o.Kind, ns, o.Name, o.UID)
	}
	return false
}

// ResourceVersion is the resourceVersion of a Pod or a workload object (by
// kind, as the enricher names it) as the watcher's caches hold it:
// enricher.Versions, so an object read in full at that version is not read
// again.
func (w *Watcher) ResourceVersion(kind, namespace, name string) (string, bool) {
	var m *metav1.ObjectMeta
	if kind == podGK.Kind {
		if p := w.podLookup(namespace, name); p != nil {
			m = &p.ObjectMeta
		}
	} else {
		for gk, inf := range w.workloads {
			if gk.Kind == kind {
				m = storeMeta(inf, namespace+"/"+name)
				break
			}
		}
	}
	if m == nil || m.ResourceVersion == "" {
		return "", false
	}
	return m.ResourceVersion, true
}
