package enricher

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// maxOwnerDepth bounds the owner chain walk (Pod→ReplicaSet→Deployment is 2).
const maxOwnerDepth = 4

// GatheredResources are the API resources the enricher GETs, by API group:
// exactly what get reads. internal/permissions builds the controller's RBAC
// list (which the chart grants, exactly) from it. Secrets and ConfigMaps are never read; kinds
// not listed (Services, Nodes, PersistentVolumeClaims, ...) are noted as not
// gathered instead of being read without permission.
var GatheredResources = map[string][]string{
	"":      {"pods"},
	"apps":  {"replicasets", "deployments", "statefulsets", "daemonsets"},
	"batch": {"jobs", "cronjobs"},
}

// get reads one object by kind (one of GatheredResources), shared by the
// events of the share window (sharedReads), and not at all when the object
// read earlier is at the version the controller's caches hold (Versions),
// which then answers a copy of its own. The result may be the share
// window's answer: read-only.
func (e *Enricher) get(ctx context.Context, r objRef) (runtime.Object, error) {
	key := r.Kind + "/" + r.Namespace + "/" + r.Name
	if e.opts.Versions != nil {
		if rv, ok := e.opts.Versions.ResourceVersion(r.Kind, r.Namespace, r.Name); ok {
			if obj, ok := e.objects.get(key, rv); ok {
				return obj, nil
			}
		}
	}
	v, err := e.reads.do(ctx, "get/"+key, func(ctx context.Context) (any, error) {
		obj, err := e.read(ctx, r)
		if err == nil && e.opts.Versions != nil {
			e.objects.put(key, obj)
		}
		return obj, err
	})
	if err != nil {
		return nil, err
	}
	return v.(runtime.Object), nil
}

func (e *Enricher) read(ctx context.Context, r objRef) (runtime.Object, error) {
	opts := metav1.GetOptions{}
	k := e.opts.Kube
	switch r.Kind {
	case "Pod":
		return k.CoreV1().Pods(r.Namespace).Get(ctx, r.Name, opts)
	case "ReplicaSet":
		return k.AppsV1().ReplicaSets(r.Namespace).Get(ctx, r.Name, opts)
	case "Deployment":
		return k.AppsV1().Deployments(r.Namespace).Get(ctx, r.Name, opts)
	case "StatefulSet":
		return k.AppsV1().StatefulSets(r.Namespace).Get(ctx, r.Name, opts)
	case "DaemonSet":
		return k.AppsV1().DaemonSets(r.Namespace).Get(ctx, r.Name, opts)
	case "Job":
		return k.BatchV1().Jobs(r.Namespace).Get(ctx, r.Name, opts)
	case "CronJob":
		return k.BatchV1().CronJobs(r.Namespace).Get(ctx, r.Name, opts)
	}
	return nil, fmt.Errorf("kind %s is not gathered", r.Kind)
}

type owned struct {
	ref objRef
	obj runtime.Object
}

// ownerChain follows controller owner references upwards.
func (e *Enricher) ownerChain(ctx context.Context, obj runtime.Object, self objRef) ([]owned, []string) {
	var out []owned
	var notes []string
	cur, ok := obj.(metav1.Object)
	for depth := 0; ok && depth < maxOwnerDepth; depth++ {
		c := metav1.GetControllerOf(cur)
		if c == nil {
			break
		}
		ref := objRef{Kind: c.Kind, Namespace: self.Namespace, Name: c.Name}
		o, err := e.get(ctx, ref)
		if err != nil {
			notes = append(notes, fmt.Sprintf("owner %s not read: %s", ref, short(err)))
			out = append(out, owned{ref: ref})
			break
		}
		out = append(out, owned{ref: ref, obj: o})
		cur, ok = o.(metav1.Object)
	}
	return out, notes
}

// workloadPods lists up to MaxPods Pods of a workload, the unhealthiest
// first.
func (e *Enricher) workloadPods(ctx context.Context, obj runtime.Object) ([]*corev1.Pod, string) {
	var sel *metav1.LabelSelector
	mo, ok := obj.(metav1.Object)
	if !ok {
		return nil, ""
	}
	ns, name := mo.GetNamespace(), mo.GetName()
	switch o := obj.(type) {
	case *appsv1.Deployment:
		sel = o.Spec.Selector
	case *appsv1.ReplicaSet:
		sel = o.Spec.Selector
	case *appsv1.StatefulSet:
		sel = o.Spec.Selector
	case *appsv1.DaemonSet:
		sel = o.Spec.Selector
	case *batchv1.Job:
		sel = o.Spec.Selector
		if sel == nil {
			sel = &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/job-name": name}}
		}
	default:
		return nil, ""
	}
	if sel == nil {
		return nil, ""
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() || s.String() == labels.Nothing().String() {
		return nil, ""
	}
	v, err := e.reads.do(ctx, "pods/"+ns+"/"+s.String(), func(ctx context.Context) (any, error) {
		return e.opts.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: s.String(), Limit: 50})
	})
	if err != nil {
		return nil, "pods of " + name + " not listed: " + short(err)
	}
	list := v.(*corev1.PodList)
	pods := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	slices.SortStableFunc(pods, func(a, b *corev1.Pod) int {
		if d := unhealth(b) - unhealth(a); d != 0 {
			return d
		}
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	if len(pods) > e.opts.MaxPods {
		pods = pods[:e.opts.MaxPods]
	}
	return pods, ""
}

// unhealth ranks a Pod: not-ready containers and restarts count.
func unhealth(p *corev1.Pod) int {
	n := 0
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready {
			n += 1000
		}
		n += int(min(cs.RestartCount, 999))
	}
	if p.Status.Phase == corev1.PodPending || p.Status.Phase == corev1.PodFailed {
		n += 1000
	}
	return n
}
