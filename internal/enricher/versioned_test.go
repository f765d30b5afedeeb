package enricher

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/api/v1alpha1"
)

// An object read in full is not read again while the controller's caches
// hold it at the same resourceVersion; a new version, or one the caches do
// not know, is read.
func TestEnrichReadsAnObjectOncePerVersion(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-0", Namespace: "team-a", ResourceVersion: "5"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/app:1"}}}}
	kube := fake.NewClientset(pod)
	cached := map[string]string{"Pod/team-a/api-0": "5"}
	versions := VersionsFunc(func(kind, ns, name string) (string, bool) {
		rv, ok := cached[kind+"/"+ns+"/"+name]
		return rv, ok
	})
	e := New(Options{Kube: kube, Logs: &fakeLogs{}, Metrics: notServed{}, Versions: versions, ShareWindow: -1,
		Clock: clocktesting.NewFakePassiveClock(now)})
	g := gathering(&v1alpha1.RemediationPolicy{})
	podGets := func() int {
		n := 0
		for _, a := range kube.Actions() {
			if a.GetVerb() == "get" && a.GetResource().Resource == "pods" {
				n++
			}
		}
		return n
	}
	steps := []struct {
		name   string
		change func()
		want   int // GETs of the Pod so far
	}{
		{"first event: read", nil, 1},
		{"same version: not read", nil, 1},
		{"again: not read", nil, 1},
		{"a new version in the caches: read", func() {
			pod.ResourceVersion = "6"
			_, err := kube.CoreV1().Pods("team-a").Update(context.Background(), pod, metav1.UpdateOptions{})
			require.NoError(t, err)
			cached["Pod/team-a/api-0"] = "6"
		}, 2},
		{"caches do not know it: read", func() { delete(cached, "Pod/team-a/api-0") }, 3},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		c := e.Enrich(context.Background(), event("backoff", "Pod", "api-0", "BackOff", "Warning", 0), g)
		require.NotEmpty(t, c.PodSpec, st.name)
		assert.Equal(t, st.want, podGets(), st.name)
	}
}

// A hit answers a new copy of what was put, equal to it, TypeMeta
// included; modifying one copy changes neither what is kept nor the object
// put. An object without protobuf is kept too.
func TestVersionedObjectsGetReturnsACopy(t *testing.T) {
	withType := typicalPod(1)
	withType.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	kindOnly := typicalPod(2)
	kindOnly.Kind = "Pod"
	deployment := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "team-a", ResourceVersion: "7"},
		Spec: appsv1.DeploymentSpec{Replicas: new(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Template: typicalPodTemplate()}}
	unstr := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.io/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": "team-a", "resourceVersion": "3"},
		"spec":     map[string]any{"size": int64(2), "tags": []any{"a", "b"}}}}
	for _, tc := range []struct {
		name string
		obj  runtime.Object
	}{
		{"Pod as the clientset answers it: no TypeMeta", typicalPod(0)},
		{"Pod with TypeMeta", withType},
		{"Pod with only a kind", kindOnly},
		{"Deployment with TypeMeta", deployment},
		{"object without protobuf", unstr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			put := tc.obj.DeepCopyObject()
			// A copy is the object without its managed fields, which the
			// enricher never sends.
			want := tc.obj.DeepCopyObject()
			if a, err := meta.Accessor(want); err == nil {
				a.SetManagedFields(nil)
			}
			v := newVersionedObjects(versionedBytes)
			v.put("k", tc.obj)
			rv := tc.obj.(metav1.Object).GetResourceVersion()
			got, ok := v.get("k", rv)
			require.True(t, ok)
			assert.Equal(t, want, got)
			assert.Equal(t, put, tc.obj, "what was put is not modified")
			assert.NotSame(t, tc.obj, got)
			got.(metav1.Object).SetLabels(map[string]string{"changed": "yes"})
			again, ok := v.get("k", rv)
			require.True(t, ok)
			assert.Equal(t, want, again, "a copy modified changes nothing kept")
			assert.NotSame(t, got, again)
		})
	}
}

func typicalPodTemplate() corev1.PodTemplateSpec {
	p := typicalPod(0)
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: p.Labels}, Spec: p.Spec}
}

// The bound counts the objects' protobuf size, and evicts the least
// recently used first: put or answered.
func TestVersionedObjectsBound(t *testing.T) {
	pod := func(name string, pad int) *corev1.Pod {
		p := typicalPod(0)
		p.Name = name
		if pad > 0 {
			p.Annotations = map[string]string{"pad": strings.Repeat("x", pad)}
		}
		return p
	}
	pods := map[string]*corev1.Pod{"a": pod("a", 0), "b": pod("b", 0), "c": pod("c", 0), "d": pod("d", 0),
		"big": pod("big", 6000)}
	size := func(keys ...string) int {
		n := 0
		for _, k := range keys {
			p := pods[k].DeepCopy()
			p.ManagedFields = nil // not kept
			b, err := p.Marshal()
			require.NoError(t, err)
			n += len(b)
		}
		return n
	}
	require.Greater(t, size("big"), 2*size("a"), "big is over two others")
	for _, tc := range []struct {
		name string
		max  int
		ops  []string // put k, or get k
		kept []string
	}{
		{"all within the bound", size("a", "b", "c"), []string{"put a", "put b", "put c"}, []string{"a", "b", "c"}},
		{"least recently put out first", size("a", "b", "c"), []string{"put a", "put b", "put c", "put d"}, []string{"b", "c", "d"}},
		{"an answered object stays", size("a", "b", "c"), []string{"put a", "put b", "put c", "get a", "put d"}, []string{"a", "c", "d"}},
		{"a put again stays", size("a", "b", "c"), []string{"put a", "put b", "put c", "put a", "put d"}, []string{"a", "c", "d"}},
		{"a big object evicts as many as its size", size("a", "big"), []string{"put a", "put b", "put c", "put big"}, []string{"c", "big"}},
		{"exactly the bound", size("a", "big"), []string{"put a", "put big"}, []string{"a", "big"}},
		{"an object over the whole bound is not kept", size("a", "b"), []string{"put a", "put big"}, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVersionedObjects(tc.max)
			for _, op := range tc.ops {
				verb, k, _ := strings.Cut(op, " ")
				if verb == "put" {
					v.put(k, pods[k])
				} else {
					_, ok := v.get(k, pods[k].ResourceVersion)
					require.True(t, ok, op)
				}
			}
			var kept []string
			for k := range pods {
				if _, ok := v.get(k, pods[k].ResourceVersion); ok {
					kept = append(kept, k)
				}
			}
			assert.ElementsMatch(t, tc.kept, kept)
			assert.Equal(t, size(tc.kept...), v.size, "accounted: the kept objects' protobuf")
		})
	}
	v := newVersionedObjects(versionedBytes)
	v.put("a", pods["a"])
	_, ok := v.get("a", "another")
	assert.False(t, ok, "another version is not answered")
	noVersion := pod("n", 0)
	noVersion.ResourceVersion = ""
	v.put("n", noVersion)
	_, ok = v.get("n", "")
	assert.False(t, ok, "an object without a version is not kept")
}
