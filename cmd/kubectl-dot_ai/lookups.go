package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/policy"
)

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

// clusterLookups reads what selection needs with the user's permissions,
// once per object. What the user may not read is simply not found (a
// container-status reason then matches only by the Event's own reason).
type clusterLookups struct {
	ctx        context.Context
	kube       kubernetes.Interface
	pods       map[string]*policy.PodSummary
	namespaces map[string]map[string]string
	owners     map[string]*metav1.OwnerReference
	objects    map[string]*metav1.ObjectMeta
}

func newClusterLookups(ctx context.Context, kube kubernetes.Interface, _ *v1alpha1.RemediationPolicy) *clusterLookups {
	return &clusterLookups{ctx: ctx, kube: kube, pods: map[string]*policy.PodSummary{},
		namespaces: map[string]map[string]string{}, owners: map[string]*metav1.OwnerReference{},
		objects: map[string]*metav1.ObjectMeta{}}
}

// events lists the Events the policy can see: its namespace, or every
// namespace for a namespaceSelector policy.
func (l *clusterLookups) events(p *v1alpha1.RemediationPolicy) ([]*corev1.Event, error) {
	ns := p.Namespace
	if p.Spec.NamespaceSelector != nil {
		ns = metav1.NamespaceAll
	}
	var out []*corev1.Event
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := l.kube.CoreV1().Events(ns).List(l.ctx, opts)
		if err != nil {
			where := "namespace " + ns
			if ns == "" {
				where = "all namespaces"
			}
			return nil, fmt.Errorf("listing Events in %s: %w", where, err)
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		if list.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Continue
	}
}

func (l *clusterLookups) pod(namespace, name string) *policy.PodSummary {
	key := namespace + "/" + name
	if p, ok := l.pods[key]; ok {
		return p
	}
	var s *policy.PodSummary
	if p, err := l.kube.CoreV1().Pods(namespace).Get(l.ctx, name, metav1.GetOptions{}); err == nil {
		s = policy.NewPodSummary(p.ObjectMeta, &p.Status)
	}
	l.pods[key] = s
	return s
}

func (l *clusterLookups) namespaceLabels(name string) (map[string]string, bool) {
	if labels, ok := l.namespaces[name]; ok {
		return labels, labels != nil
	}
	ns, err := l.kube.CoreV1().Namespaces().Get(l.ctx, name, metav1.GetOptions{})
	if err != nil {
		l.namespaces[name] = nil
		return nil, false
	}
	labels := ns.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	l.namespaces[name] = labels
	return labels, true
}

// owner returns the controller owner of a Pod, ReplicaSet or Job, as the
// watcher's caches do.
func (l *clusterLookups) owner(kind, namespace, name string) (*metav1.OwnerReference, bool) {
	key := kind + "/" + namespace + "/" + name
	if o, ok := l.owners[key]; ok {
		return o, true
	}
	var refs []metav1.OwnerReference
	var err error
	switch kind {
	case "Pod":
		var p *corev1.Pod
		if p, err = l.kube.CoreV1().Pods(namespace).Get(l.ctx, name, metav1.GetOptions{}); err == nil {
			refs = p.OwnerReferences
		}
	case "ReplicaSet":
		var rs interface {
			GetOwnerReferences() []metav1.OwnerReference
		}
		if rs, err = l.kube.AppsV1().ReplicaSets(namespace).Get(l.ctx, name, metav1.GetOptions{}); err == nil {
			refs = rs.GetOwnerReferences()
		}
	case "Job":
		var j interface {
			GetOwnerReferences() []metav1.OwnerReference
		}
		if j, err = l.kube.BatchV1().Jobs(namespace).Get(l.ctx, name, metav1.GetOptions{}); err == nil {
			refs = j.GetOwnerReferences()
		}
	default:
		return nil, false
	}
	if err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
			return nil, false // the name heuristics apply, as in the watcher
		}
		return nil, false
	}
	o := metav1.GetControllerOfNoCopy(&metav1.ObjectMeta{OwnerReferences: refs})
	l.owners[key] = o
	return o, true
}

// object returns the metadata of a Pod, Namespace or workload (the kinds the
// watcher caches), read once with the user's permissions; nil when it is
// another kind, gone, forbidden or of another uid.
func (l *clusterLookups) object(apiVersion, kind, namespace, name string, uid types.UID) *metav1.ObjectMeta {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil
	}
	key := gv.Group + "/" + kind + "/" + namespace + "/" + name
	m, ok := l.objects[key]
	if !ok {
		m = l.getObject(gv.Group, kind, namespace, name)
		l.objects[key] = m
	}
	if m == nil || (uid != "" && m.UID != uid) {
		return nil
	}
	return m
}

func (l *clusterLookups) getObject(group, kind, namespace, name string) *metav1.ObjectMeta {
	var obj metav1.Object
	var err error
	get := metav1.GetOptions{}
	switch group + "/" + kind {
	case "/Pod":
		if p := l.pod(namespace, name); p != nil {
			return &p.ObjectMeta
		}
		return nil
	case "/Namespace":
		obj, err = l.kube.CoreV1().Namespaces().Get(l.ctx, name, get)
	case "apps/ReplicaSet":
		obj, err = l.kube.AppsV1().ReplicaSets(namespace).Get(l.ctx, name, get)
	case "apps/Deployment":
		obj, err = l.kube.AppsV1().Deployments(namespace).Get(l.ctx, name, get)
	case "apps/StatefulSet":
		obj, err = l.kube.AppsV1().StatefulSets(namespace).Get(l.ctx, name, get)
	case "apps/DaemonSet":
		obj, err = l.kube.AppsV1().DaemonSets(namespace).Get(l.ctx, name, get)
	case "batch/Job":
		obj, err = l.kube.BatchV1().Jobs(namespace).Get(l.ctx, name, get)
	case "batch/CronJob":
		obj, err = l.kube.BatchV1().CronJobs(namespace).Get(l.ctx, name, get)
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return &metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), UID: obj.GetUID(),
		Labels: obj.GetLabels(), Annotations: obj.GetAnnotations(), OwnerReferences: obj.GetOwnerReferences()}
}
