package watcher

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/policy/policytest"
)

// ownedMeta is metadata with a controller owner reference (nil: none) and
// the opt-out annotation when ignore.
func ownedMeta(ns, name string, owner *metav1.OwnerReference, ignore bool) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(name + "-uid"), Labels: map[string]string{"app": name}}
	if owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	if ignore {
		m.Annotations = map[string]string{v1alpha1.IgnoreAnnotation: "true"}
	}
	return m
}

func ctrlRef(apiVersion, kind, name string) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(name + "-uid"), Controller: &yes}
}

// TestIgnored: the opt-out annotation on the involved object, any
// controlling owner up the chain, or the namespace ignores the event; on an
// unrelated object, with another value, or past a link that is not cached it
// does not.
func TestIgnored(t *testing.T) {
	type obj struct {
		gk     schema.GroupKind
		meta   metav1.ObjectMeta
		ignore bool
	}
	apps := func(kind string) schema.GroupKind { return schema.GroupKind{Group: "apps", Kind: kind} }
	batch := func(kind string) schema.GroupKind { return schema.GroupKind{Group: "batch", Kind: kind} }
	// Deployment web → ReplicaSet web-5f6 → Pod web-5f6-aaaaa; CronJob
	// backup → Job backup-1 → Pod backup-1-xyz; StatefulSet db → Pod db-0;
	// DaemonSet agent → Pod agent-x.
	chain := func(ignored string, value string) []obj {
		objs := []obj{
			{apps("Deployment"), ownedMeta("app", "web", nil, false), false},
			{apps("ReplicaSet"), ownedMeta("app", "web-5f6", ctrlRef("apps/v1", "Deployment", "web"), false), false},
			{podGK, ownedMeta("app", "web-5f6-aaaaa", ctrlRef("apps/v1", "ReplicaSet", "web-5f6"), false), false},
			{batch("CronJob"), ownedMeta("app", "backup", nil, false), false},
			{batch("Job"), ownedMeta("app", "backup-1", ctrlRef("batch/v1", "CronJob", "backup"), false), false},
			{podGK, ownedMeta("app", "backup-1-xyz", ctrlRef("batch/v1", "Job", "backup-1"), false), false},
			{apps("StatefulSet"), ownedMeta("app", "db", nil, false), false},
			{podGK, ownedMeta("app", "db-0", ctrlRef("apps/v1", "StatefulSet", "db"), false), false},
			{apps("DaemonSet"), ownedMeta("app", "agent", nil, false), false},
			{podGK, ownedMeta("app", "agent-x", ctrlRef("apps/v1", "DaemonSet", "agent"), false), false},
			{apps("Deployment"), ownedMeta("app", "other", nil, false), false},
			{namespaceGK, ownedMeta("", "app", nil, false), false},
			{namespaceGK, ownedMeta("", "quiet", nil, false), false},
		}
		for i := range objs {
			if objs[i].meta.Name == ignored {
				objs[i].meta.Annotations = map[string]string{v1alpha1.IgnoreAnnotation: value}
			}
		}
		return objs
	}
	pod := func(ns, name string) *corev1.Event {
		e := policytest.Event(ns, "Warning", "BackOff", "Pod", name, "")
		e.InvolvedObject.UID = types.UID(name + "-uid")
		return e
	}
	deployment := policytest.Event("app", "Warning", "ProgressDeadlineExceeded", "Deployment", "web", "")
	deployment.InvolvedObject.APIVersion = "apps/v1"
	tests := map[string]struct {
		ignored, value string
		ev             *corev1.Event
		want           bool
	}{
		"nothing annotated":                      {ev: pod("app", "web-5f6-aaaaa"), want: false},
		"the pod":                                {ignored: "web-5f6-aaaaa", value: "true", ev: pod("app", "web-5f6-aaaaa"), want: true},
		"its replicaset":                         {ignored: "web-5f6", value: "true", ev: pod("app", "web-5f6-aaaaa"), want: true},
		"its deployment":                         {ignored: "web", value: "true", ev: pod("app", "web-5f6-aaaaa"), want: true},
		"the deployment's own event":             {ignored: "web", value: "true", ev: deployment, want: true},
		"its cronjob":                            {ignored: "backup", value: "true", ev: pod("app", "backup-1-xyz"), want: true},
		"its job":                                {ignored: "backup-1", value: "true", ev: pod("app", "backup-1-xyz"), want: true},
		"its statefulset":                        {ignored: "db", value: "true", ev: pod("app", "db-0"), want: true},
		"its daemonset":                          {ignored: "agent", value: "true", ev: pod("app", "agent-x"), want: true},
		"the namespace":                          {ignored: "app", value: "true", ev: pod("app", "web-5f6-aaaaa"), want: true},
		"the namespace, object not cached":       {ignored: "app", value: "true", ev: pod("app", "gone"), want: true},
		"another namespace":                      {ignored: "quiet", value: "true", ev: pod("app", "web-5f6-aaaaa"), want: false},
		"another deployment":                     {ignored: "other", value: "true", ev: pod("app", "web-5f6-aaaaa"), want: false},
		"a value other than true":                {ignored: "web", value: "yes", ev: pod("app", "web-5f6-aaaaa"), want: false},
		"a pod of the same name but another uid": {ignored: "web", value: "true", ev: func() *corev1.Event { e := pod("app", "web-5f6-aaaaa"); e.InvolvedObject.UID = "old"; return e }(), want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := newUnitWatcher(clocktesting.NewFakeClock(time.Now()), 1)
			for _, o := range chain(tc.ignored, tc.value) {
				switch o.gk {
				case podGK:
					require.NoError(t, w.pods.GetStore().Add(&policy.PodSummary{ObjectMeta: o.meta}))
				case namespaceGK:
					require.NoError(t, w.namespaces.GetStore().Add(&metav1.PartialObjectMetadata{ObjectMeta: o.meta}))
				default:
					require.NoError(t, w.workloads[o.gk].GetStore().Add(&metav1.PartialObjectMetadata{ObjectMeta: o.meta}))
				}
			}
			assert.Equal(t, tc.want, w.ignored(tc.ev))
		})
	}
}

// TestInvolvedMeta: CEL's object is the cached metadata of the involved
// object, matched by API group, kind and UID.
func TestInvolvedMeta(t *testing.T) {
	w := newUnitWatcher(clocktesting.NewFakeClock(time.Now()), 1)
	podMeta := ownedMeta("app", "web-1", nil, false)
	require.NoError(t, w.pods.GetStore().Add(&policy.PodSummary{ObjectMeta: podMeta}))
	depMeta := ownedMeta("app", "web", nil, false)
	require.NoError(t, w.workloads[schema.GroupKind{Group: "apps", Kind: "Deployment"}].GetStore().Add(&metav1.PartialObjectMetadata{ObjectMeta: depMeta}))
	ev := func(apiVersion, kind, name string, uid types.UID) *corev1.Event {
		e := policytest.Event("app", "Warning", "X", kind, name, "")
		e.InvolvedObject.APIVersion, e.InvolvedObject.UID = apiVersion, uid
		return e
	}
	tests := map[string]struct {
		ev   *corev1.Event
		want *metav1.ObjectMeta
	}{
		"pod":                      {ev: ev("v1", "Pod", "web-1", "web-1-uid"), want: &podMeta},
		"pod without uid":          {ev: ev("v1", "Pod", "web-1", ""), want: &podMeta},
		"pod of another uid":       {ev: ev("v1", "Pod", "web-1", "other"), want: nil},
		"deployment":               {ev: ev("apps/v1", "Deployment", "web", ""), want: &depMeta},
		"same kind, another group": {ev: ev("example.com/v1", "Deployment", "web", ""), want: nil},
		"uncached kind":            {ev: ev("v1", "Service", "web", ""), want: nil},
		"not cached":               {ev: ev("v1", "Pod", "web-2", ""), want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, w.involvedMeta(tc.ev))
		})
	}
}

// TestResourceVersion: the enricher's Versions are the cached Pods' and
// workload objects' resourceVersions; what the caches do not hold is unknown.
func TestResourceVersion(t *testing.T) {
	w := newUnitWatcher(clocktesting.NewFakeClock(time.Now()), 1)
	pod := ownedMeta("app", "web-1", nil, false)
	pod.ResourceVersion = "11"
	require.NoError(t, w.pods.GetStore().Add(&policy.PodSummary{ObjectMeta: pod}))
	dep := ownedMeta("app", "web", nil, false)
	dep.ResourceVersion = "7"
	require.NoError(t, w.workloads[schema.GroupKind{Group: "apps", Kind: "Deployment"}].GetStore().Add(&metav1.PartialObjectMetadata{ObjectMeta: dep}))
	tests := map[string]struct {
		kind, name string
		want       string
		known      bool
	}{
		"cached Pod":         {"Pod", "web-1", "11", true},
		"cached Deployment":  {"Deployment", "web", "7", true},
		"Pod not cached":     {"Pod", "web-2", "", false},
		"kind not cached":    {"Service", "web", "", false},
		"another kind, name": {"ReplicaSet", "web", "", false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			rv, ok := w.ResourceVersion(tt.kind, "app", tt.name)
			assert.Equal(t, tt.known, ok)
			assert.Equal(t, tt.want, rv)
		})
	}
}
