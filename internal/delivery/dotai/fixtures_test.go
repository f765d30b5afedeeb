package dotai

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/policy"
)

var now = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

const ns = "team-a"

// index is a enricher.EventSource over a slice.
type index []*corev1.Event

func (x index) EventsFor(_ context.Context, namespace, kind, name string) ([]*corev1.Event, error) {
	var out []*corev1.Event
	for _, e := range x {
		if e.InvolvedObject.Namespace == namespace && e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	}
	return out, nil
}

// logs serves fixed logs; a missing stream answers like the apiserver for a
// container that has not started.
type logs map[string]string

func (l logs) Stream(_ context.Context, _, pod string, o *corev1.PodLogOptions) (io.ReadCloser, error) {
	s, ok := l[fmt.Sprintf("%s/%s/%v", pod, o.Container, o.Previous)]
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", o.Container, pod))
	}
	return io.NopCloser(strings.NewReader(s)), nil
}

type noMetrics struct{}

func (noMetrics) PodMetrics(context.Context, string, string) (*enricher.PodMetrics, error) {
	return nil, enricher.ErrMetricsNotServed
}

func ev(name, kind, obj, typ, reason, msg, component string, count int32, age time.Duration) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name)},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: obj, APIVersion: "v1"},
		Type:           typ, Reason: reason, Message: msg, Count: count,
		Source:         corev1.EventSource{Component: component},
		FirstTimestamp: metav1.NewTime(now.Add(-age - time.Minute)),
		LastTimestamp:  metav1.NewTime(now.Add(-age)),
	}
}

func newPolicy(mode v1alpha1.RemediationMode) *v1alpha1.RemediationPolicy {
	return &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "crashes", Namespace: ns, UID: "policy-uid"},
		Spec: v1alpha1.RemediationPolicySpec{
			EventSelectors: []v1alpha1.EventSelector{{Type: v1alpha1.EventTypeWarning}},
			Mode:           mode,
			ContextGathering: &v1alpha1.ContextGathering{
				IncludeLogs: new(true), LogLines: new(int32(100)), MaxLogBytes: new(int64(65536)),
				IncludePreviousLogs: new(true), IncludeRelatedEvents: new(true), LookbackMinutes: new(int32(15)),
				IncludeResourceSpec: new(true), IncludeMetrics: new(true),
			},
		},
	}
}

// scenario is one typical event with its cluster state.
type scenario struct {
	objects []runtime.Object
	events  index
	logs    logs
	req     delivery.Request
}

func deployment(name string, containers []corev1.Container) (*appsv1.Deployment, *appsv1.ReplicaSet, *corev1.Pod) {
	yes := true
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: containers}}
	dep := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(name + "-dep-uid"), Generation: 3,
			CreationTimestamp: metav1.NewTime(now.Add(-24 * time.Hour)),
			ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubectl-client-side-apply", Operation: "Update"}},
			Annotations:       map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"secret":"x"}`, "deployment.kubernetes.io/revision": "3"}},
		Spec: appsv1.DeploymentSpec{Replicas: new(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}
	rsName := name + "-7d4b9c"
	rs := &appsv1.ReplicaSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{Name: rsName, Namespace: ns, UID: types.UID(rsName + "-uid"), Labels: labels,
			CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: dep.UID, Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: new(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: rsName + "-x2x9z", Namespace: ns, UID: types.UID(rsName + "-pod-uid"), Labels: labels,
			CreationTimestamp: metav1.NewTime(now.Add(-30 * time.Minute)),
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rsName, UID: rs.UID, Controller: &yes}}},
		Spec: corev1.PodSpec{Containers: containers, NodeName: "node-1"},
	}
	return dep, rs, pod
}

// occurrence is the request the watcher builds for e matched by p's first
// selector, with p's mode and the chart's defaults otherwise.
func occurrence(p *v1alpha1.RemediationPolicy, e *corev1.Event, mode v1alpha1.RemediationMode) delivery.Request {
	s := config.Default()
	eff := effective(p, &s, mode)
	eff.ConfidenceThreshold, eff.MaxRiskLevel = config.DefaultConfidenceThreshold, v1alpha1.RiskLow
	return delivery.Request{Policy: p, Event: e, Effective: eff,
		OccurrenceKey: string(e.UID) + "/" + fmt.Sprint(e.Count), SeenAt: now}
}

// effective is what the watcher resolves for p's first selector under s,
// with the mode a test asks for.
func effective(p *v1alpha1.RemediationPolicy, s *config.Settings, mode v1alpha1.RemediationMode) policy.Effective {
	e := policy.Resolve(p, 0, s)
	e.Mode = mode
	return e
}

func scenarios() map[string]scenario {
	out := map[string]scenario{}
	appContainer := []corev1.Container{{Name: "app", Image: "registry.local/web:1.4.2",
		Env: []corev1.EnvVar{{Name: "DATABASE_URL", Value: "postgres://app:hunter2@db:5432/app"},
			{Name: "API_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}, Key: "token"}}}}}}

	// Crash loop: the kubelet reports reason BackOff; CrashLoopBackOff is the
	// container-status reason.
	dep, rs, pod := deployment("web", appContainer)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", RestartCount: 5, Image: "registry.local/web:1.4.2",
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 2m40s restarting failed container=app pod=" + pod.Name + "_team-a(" + string(pod.UID) + ")"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}},
	}}}
	backoff := ev("web-7d4b9c-x2x9z.1", "Pod", pod.Name, "Warning", "BackOff",
		"Back-off restarting failed container app in pod "+pod.Name+"_team-a("+string(pod.UID)+")", "kubelet", 12, 0)
	out["crashloop-backoff"] = scenario{
		objects: []runtime.Object{dep, rs, pod},
		events: index{backoff,
			ev("web-7d4b9c-x2x9z.2", "Pod", pod.Name, "Normal", "Pulled", `Container image "registry.local/web:1.4.2" already present on machine`, "kubelet", 6, 30*time.Second),
			ev("web-7d4b9c-x2x9z.3", "Pod", pod.Name, "Normal", "Started", "Started container app", "kubelet", 6, 31*time.Second),
			ev("web-7d4b9c.1", "ReplicaSet", rs.Name, "Normal", "SuccessfulCreate", "Created pod: "+pod.Name, "replicaset-controller", 1, 10*time.Minute),
			ev("web.1", "Deployment", "web", "Normal", "ScalingReplicaSet", "Scaled up replica set web-7d4b9c from 0 to 1", "deployment-controller", 1, 11*time.Minute),
			ev("web.old", "Deployment", "web", "Normal", "ScalingReplicaSet", "Scaled down replica set web-5f4f from 1 to 0", "deployment-controller", 1, 2*time.Hour),
		},
		logs: logs{
			pod.Name + "/app/false": "2026-11-28T09:59:58Z INFO starting web 1.4.2\n2026-11-28T09:59:58Z INFO connecting to postgres://app:hunter2@db:5432/app\n",
			pod.Name + "/app/true": "2026-11-28T09:57:10Z INFO starting web 1.4.2\n2026-11-28T09:57:10Z DEBUG Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3ZWIifQ.sig\n" +
				"2026-11-28T09:57:11Z ERROR dial tcp 127.0.1.7:5432: connect: connection refused\npanic: cannot connect to database\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:42 +0x1d\n",
		},
		req: occurrence(newPolicy(v1alpha1.ModeManual), backoff, v1alpha1.ModeManual),
	}

	// OOMKilled: a container-status reason; the event is again BackOff.
	apiContainer := []corev1.Container{{Name: "api", Image: "registry.local/api:2.0.0",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}}}}
	dep, rs, pod = deployment("api", apiContainer)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "api", RestartCount: 3, Image: "registry.local/api:2.0.0",
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}},
	}}}
	oom := ev("api-7d4b9c-x2x9z.1", "Pod", pod.Name, "Warning", "BackOff",
		"Back-off restarting failed container api in pod "+pod.Name+"_team-a("+string(pod.UID)+")", "kubelet", 4, 0)
	auto := newPolicy(v1alpha1.ModeAutomatic)
	req := occurrence(auto, oom, v1alpha1.ModeAutomatic)
	req.Effective.ConfidenceThreshold, req.Effective.MaxRiskLevel = 0.9, v1alpha1.RiskMedium
	out["oomkilled"] = scenario{
		objects: []runtime.Object{dep, rs, pod},
		events:  index{oom},
		logs: logs{
			pod.Name + "/api/true": "INFO loading cache\nINFO cache entries=1200000\nWARN heap 127Mi of 128Mi\n",
		},
		req: req,
	}

	// FailedScheduling: from the scheduler, on a Pending Pod without logs.
	dep, rs, pod = deployment("batch", []corev1.Container{{Name: "worker", Image: "registry.local/worker:1",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Gi")}}}})
	pod.Spec.NodeName = ""
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."}}}
	sched := ev("batch-7d4b9c-x2x9z.1", "Pod", pod.Name, "Warning", "FailedScheduling",
		"0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.", "default-scheduler", 1, 0)
	out["failedscheduling"] = scenario{objects: []runtime.Object{dep, rs, pod}, events: index{sched}, logs: logs{},
		req: occurrence(newPolicy(v1alpha1.ModeManual), sched, v1alpha1.ModeManual)}

	// ImagePullBackOff: the kubelet's events are Failed (ErrImagePull) and
	// BackOff; ImagePullBackOff is the container-status reason.
	dep, rs, pod = deployment("shop", []corev1.Container{{Name: "shop", Image: "registry.local/shop:v9"}})
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "shop", Image: "registry.local/shop:v9",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "registry.local/shop:v9"`}},
	}}}
	pull := ev("shop-7d4b9c-x2x9z.2", "Pod", pod.Name, "Warning", "Failed",
		`Failed to pull image "registry.local/shop:v9": rpc error: code = NotFound desc = failed to pull and unpack image "registry.local/shop:v9": failed to resolve reference "registry.local/shop:v9": registry.local/shop:v9: not found`, "kubelet", 3, 0)
	out["imagepullbackoff"] = scenario{
		objects: []runtime.Object{dep, rs, pod},
		events: index{pull,
			ev("shop-7d4b9c-x2x9z.3", "Pod", pod.Name, "Warning", "Failed", "Error: ErrImagePull", "kubelet", 3, 5*time.Second),
			ev("shop-7d4b9c-x2x9z.4", "Pod", pod.Name, "Normal", "BackOff", `Back-off pulling image "registry.local/shop:v9"`, "kubelet", 5, 10*time.Second),
			ev("shop-7d4b9c-x2x9z.5", "Pod", pod.Name, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", 5, 10*time.Second),
			ev("shop-7d4b9c-x2x9z.1", "Pod", pod.Name, "Normal", "Pulling", `Pulling image "registry.local/shop:v9"`, "kubelet", 3, 70*time.Second),
		},
		logs: logs{},
		req:  occurrence(newPolicy(v1alpha1.ModeManual), pull, v1alpha1.ModeManual),
	}
	return out
}

func (s scenario) enricher() *enricher.Enricher {
	return enricher.New(enricher.Options{
		Kube: fake.NewClientset(s.objects...), Events: s.events, Logs: s.logs, Metrics: noMetrics{},
		Clock: clocktesting.NewFakePassiveClock(now),
	})
}
