package enricher

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

func TestVersionedObjectsBound(t *testing.T) {
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", ResourceVersion: "1"}}
	}
	_, one := objectVersion(pod("p-0"))
	v := newVersionedObjects(3 * one)
	for i := range 5 {
		v.put(fmt.Sprintf("k%d", i), pod(fmt.Sprintf("p-%d", i)))
	}
	for i, want := range []bool{false, false, true, true, true} {
		_, ok := v.get(fmt.Sprintf("k%d", i), "1")
		assert.Equal(t, want, ok, "k%d kept", i)
	}
	assert.LessOrEqual(t, v.size, 3*one)
	_, ok := v.get("k4", "2")
	assert.False(t, ok, "another version is not answered")
	big := pod("big")
	big.Annotations = map[string]string{"a": string(make([]byte, 4*one))}
	v.put("big", big)
	_, ok = v.get("big", "1")
	assert.False(t, ok, "an object over the whole bound is not kept")
}
