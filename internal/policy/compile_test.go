package policy

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/celevent"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/policy/policytest"
)

// compileSettings has a single cluster-policy namespace, dot-ai.
func compileSettings() *config.Settings { return policytest.Bare() }

type fakeCEL struct {
	ok  bool
	err error
}

func (f fakeCEL) Matches(context.Context, *corev1.Event, *metav1.ObjectMeta) (bool, error) {
	return f.ok, f.err
}

func TestMatch(t *testing.T) {
	crashPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web-1"}}
	crashPod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	oomPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "oom-1"}}
	oomPod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled"}}}}
	// What a real kubelet's Pod shows during most of a crash loop's back-off.
	backingOffPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "real-1"}}
	backingOffPod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: 2,
		State:                corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}}}
	pullPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "pull-1"}}
	pullPod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}
	pods := func(ns, name string) *PodSummary {
		for _, p := range []*corev1.Pod{crashPod, oomPod, backingOffPod, pullPod} {
			if p.Namespace == ns && p.Name == name {
				return NewPodSummary(p.ObjectMeta, &p.Status)
			}
		}
		return nil
	}
	nsLabels := func(name string) (map[string]string, bool) {
		switch name {
		case "app":
			return map[string]string{"team": "a"}, true
		case "other":
			return map[string]string{"team": "b"}, true
		}
		return nil, false
	}
	warnBackOff := policytest.Event("app", "Warning", "BackOff", "Pod", "web-1", "Back-off restarting failed container c in pod web-1")
	tests := map[string]struct {
		p       *v1alpha1.RemediationPolicy
		ev      *corev1.Event
		cel     CompileCELFunc
		want    int
		wantErr bool
	}{
		"empty selector matches own namespace": {
			p: policytest.Policy("app", v1alpha1.EventSelector{}), ev: warnBackOff, want: 0,
		},
		"other namespace is out of scope": {
			p: policytest.Policy("other", v1alpha1.EventSelector{}), ev: warnBackOff, want: -1,
		},
		"type mismatch": {
			p: policytest.Policy("app", v1alpha1.EventSelector{Type: "Normal"}), ev: warnBackOff, want: -1,
		},
		"reason and kind match": {
			p: policytest.Policy("app", v1alpha1.EventSelector{Type: "Warning", Reason: "BackOff", InvolvedObjectKind: "Pod"}), ev: warnBackOff, want: 0,
		},
		"kind mismatch": {
			p: policytest.Policy("app", v1alpha1.EventSelector{InvolvedObjectKind: "Deployment"}), ev: warnBackOff, want: -1,
		},
		"second selector matches": {
			p:  policytest.Policy("app", v1alpha1.EventSelector{Reason: "FailedScheduling"}, v1alpha1.EventSelector{Reason: "BackOff"}),
			ev: warnBackOff, want: 1,
		},
		"an exclude selector wins over a matching selector": {
			p: excluding(policytest.Policy("app", v1alpha1.EventSelector{Reason: "BackOff"}),
				v1alpha1.EventSelector{Reason: "Unhealthy"}, v1alpha1.EventSelector{Message: `container c in pod web-`}),
			ev: warnBackOff, want: Excluded,
		},
		"an exclude selector that does not match leaves the event": {
			p: excluding(policytest.Policy("app", v1alpha1.EventSelector{Reason: "BackOff"}),
				v1alpha1.EventSelector{InvolvedObjectKind: "Job"}),
			ev: warnBackOff, want: 0,
		},
		"exclusion applies only in scope": {
			p: excluding(policytest.Policy("other", v1alpha1.EventSelector{Reason: "BackOff"}),
				v1alpha1.EventSelector{Reason: "BackOff"}),
			ev: warnBackOff, want: -1,
		},
		"a CEL exclusion": {
			p: excluding(policytest.Policy("app", v1alpha1.EventSelector{Reason: "BackOff"}),
				v1alpha1.EventSelector{Expression: `true`}),
			cel: func(string) (EventMatcher, error) { return fakeCEL{ok: true}, nil }, ev: warnBackOff, want: Excluded,
		},
		"message regex matches": {
			p: policytest.Policy("app", v1alpha1.EventSelector{Message: `^Back-off restarting .* container`}), ev: warnBackOff, want: 0,
		},
		"message regex does not match": {
			p: policytest.Policy("app", v1alpha1.EventSelector{Message: `^pulling`}), ev: warnBackOff, want: -1,
		},
		"container status reason CrashLoopBackOff matches BackOff event": {
			p: policytest.Policy("app", v1alpha1.EventSelector{Reason: "CrashLoopBackOff"}), ev: warnBackOff, want: 0,
		},
		"CrashLoopBackOff matches a restart BackOff of a terminated container (real kubelet)": {
			p:  policytest.Policy("app", v1alpha1.EventSelector{Reason: "CrashLoopBackOff"}),
			ev: policytest.Event("app", "Warning", "BackOff", "Pod", "real-1", "Back-off restarting failed container c in pod real-1"), want: 0,
		},
		"CrashLoopBackOff needs the BackOff event for a terminated container": {
			p:  policytest.Policy("app", v1alpha1.EventSelector{Reason: "CrashLoopBackOff"}),
			ev: policytest.Event("app", "Warning", "Unhealthy", "Pod", "real-1", "Liveness probe failed"), want: -1,
		},
		"CrashLoopBackOff does not match an image pull BackOff": {
			p:  policytest.Policy("app", v1alpha1.EventSelector{Reason: "CrashLoopBackOff"}),
			ev: policytest.Event("app", "Warning", "BackOff", "Pod", "pull-1", "Back-off pulling image x"), want: -1,
		},
		"container status reason not shown by the pod": {
			p: policytest.Policy("app", v1alpha1.EventSelector{Reason: "ImagePullBackOff"}), ev: warnBackOff, want: -1,
		},
		"OOMKilled from last termination state": {
			p:  policytest.Policy("app", v1alpha1.EventSelector{Reason: "OOMKilled"}),
			ev: policytest.Event("app", "Warning", "BackOff", "Pod", "oom-1", ""), want: 0,
		},
		"container status reason needs a Warning": {
			p:  policytest.Policy("app", v1alpha1.EventSelector{Reason: "CrashLoopBackOff"}),
			ev: policytest.Event("app", "Normal", "Pulled", "Pod", "web-1", ""), want: -1,
		},
		"non-container reason does not look at pods": {
			p: policytest.Policy("app", v1alpha1.EventSelector{Reason: "FailedMount"}), ev: warnBackOff, want: -1,
		},
		"namespaceSelector in cluster-policy namespace": {
			p: func() *v1alpha1.RemediationPolicy {
				p := policytest.Policy("dot-ai", v1alpha1.EventSelector{})
				p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{"team": "a"}}
				return p
			}(), ev: warnBackOff, want: 0,
		},
		"namespaceSelector not matching labels": {
			p: func() *v1alpha1.RemediationPolicy {
				p := policytest.Policy("dot-ai", v1alpha1.EventSelector{})
				p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{"team": "b"}}
				return p
			}(), ev: warnBackOff, want: -1,
		},
		"selector namespace field narrows": {
			p: func() *v1alpha1.RemediationPolicy {
				p := policytest.Policy("dot-ai", v1alpha1.EventSelector{Namespace: "other"})
				p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{}
				return p
			}(), ev: warnBackOff, want: -1,
		},
		"CEL true": {
			p: policytest.Policy("app", v1alpha1.EventSelector{Expression: "true"}), ev: warnBackOff, want: 0,
			cel: func(string) (EventMatcher, error) { return fakeCEL{ok: true}, nil },
		},
		"CEL false": {
			p: policytest.Policy("app", v1alpha1.EventSelector{Expression: "false"}), ev: warnBackOff, want: -1,
			cel: func(string) (EventMatcher, error) { return fakeCEL{ok: false}, nil },
		},
		"CEL error is no match and reported": {
			p: policytest.Policy("app", v1alpha1.EventSelector{Expression: "x"}), ev: warnBackOff, want: -1, wantErr: true,
			cel: func(string) (EventMatcher, error) { return fakeCEL{err: errors.New("boom")}, nil },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cp, errs := Compile(compileSettings(), tc.p, tc.cel)
			require.Empty(t, errs)
			got, err := cp.Match(t.Context(), tc.ev, pods, nsLabels, nil)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantErr, err != nil)
		})
	}
}

// TestMatchObject: CEL expressions see the involved object's metadata from
// the lookup, with the same compiler the webhook uses, and the lookup runs
// only when an expression is evaluated.
func TestMatchObject(t *testing.T) {
	pod := &metav1.ObjectMeta{Namespace: "app", Name: "web-1", Labels: map[string]string{"team": "payments"},
		Annotations: map[string]string{"example.com/oncall": "alice"}}
	ev := policytest.Event("app", "Warning", "BackOff", "Pod", "web-1", "Back-off restarting failed container c in pod web-1")
	celCompile := func(expr string) (EventMatcher, error) { return celevent.Compile(expr) }
	tests := map[string]struct {
		sels     []v1alpha1.EventSelector
		excludes []v1alpha1.EventSelector
		obj      *metav1.ObjectMeta
		want     int
		wantErr  bool
		lookups  int
	}{
		"label matches": {
			sels: []v1alpha1.EventSelector{{Expression: "object.metadata.labels['team'] == 'payments'"}}, obj: pod, want: 0, lookups: 1,
		},
		"label differs": {
			sels: []v1alpha1.EventSelector{{Expression: "object.metadata.labels['team'] == 'search'"}}, obj: pod, want: -1, lookups: 1,
		},
		"annotation excludes": {
			sels:     []v1alpha1.EventSelector{{}},
			excludes: []v1alpha1.EventSelector{{Expression: "'example.com/oncall' in object.metadata.annotations"}},
			obj:      pod, want: Excluded, lookups: 1,
		},
		"uncached object: a missing key is an error, no match": {
			sels: []v1alpha1.EventSelector{{Expression: "object.metadata.labels['team'] == 'payments'"}}, obj: nil, want: -1, wantErr: true, lookups: 1,
		},
		"no expression: no lookup": {
			sels: []v1alpha1.EventSelector{{Reason: "BackOff"}}, obj: pod, want: 0, lookups: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cp, errs := Compile(compileSettings(), excluding(policytest.Policy("app", tc.sels...), tc.excludes...), celCompile)
			require.Empty(t, errs)
			lookups := 0
			got, err := cp.Match(t.Context(), ev, nil, nil, func() *metav1.ObjectMeta { lookups++; return tc.obj })
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantErr, err != nil)
			assert.Equal(t, tc.lookups, lookups)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := map[string]struct {
		p    *v1alpha1.RemediationPolicy
		cel  CompileCELFunc
		path string
	}{
		"bad regex": {p: policytest.Policy("app", v1alpha1.EventSelector{Message: "("}), path: "spec.eventSelectors[0].message"},
		"bad CEL": {
			p:    policytest.Policy("app", v1alpha1.EventSelector{}, v1alpha1.EventSelector{Expression: "event."}),
			cel:  func(string) (EventMatcher, error) { return nil, errors.New("syntax error") },
			path: "spec.eventSelectors[1].expression",
		},
		"namespaceSelector outside cluster-policy namespaces": {
			p: func() *v1alpha1.RemediationPolicy {
				p := policytest.Policy("app", v1alpha1.EventSelector{})
				p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{}
				return p
			}(),
			path: "spec.namespaceSelector",
		},
		"no selectors": {p: policytest.Policy("app"), path: "spec.eventSelectors"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, errs := Compile(compileSettings(), tc.p, tc.cel)
			require.Len(t, errs, 1)
			assert.Equal(t, tc.path, errs[0].Field)
		})
	}
}

// excluding adds exclude selectors to p.
func excluding(p *v1alpha1.RemediationPolicy, sels ...v1alpha1.EventSelector) *v1alpha1.RemediationPolicy {
	p.Spec.ExcludeSelectors = sels
	return p
}
