package watcher

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/testenv"
)

// The involved object's metadata against a real apiserver: the opt-out
// annotation through the owner chain and the namespace, and CEL's object.
func TestIntegrationObjects(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	ctx := context.Background()
	createNamespace(t, c, "dot-ai", nil)

	status := func(p *v1alpha1.RemediationPolicy) v1alpha1.RemediationPolicyStatus {
		var cur v1alpha1.RemediationPolicy
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), &cur))
		return cur.Status
	}
	ignored := func() float64 {
		var m dto.Metric
		require.NoError(t, metricSkipped.WithLabelValues("ignored").Write(&m))
		return m.GetCounter().GetValue()
	}

	t.Run("the opt-out annotation through the owner chain and the namespace", func(t *testing.T) {
		const ns = "optout"
		f := newFixture(t, env, ns, v1alpha1.EventSelector{Type: "Warning"}, beforeStart(func() {
			// Deployment web (opted out) → ReplicaSet web-5f6 → Pod
			// web-5f6-aaaaa; CronJob nightly → Job nightly-1 (opted out) →
			// Pod nightly-1-xyz; Pod plain.
			dep := createDeployment(t, c, ns, "web", nil, map[string]string{v1alpha1.IgnoreAnnotation: "true"})
			rs := createReplicaSet(t, c, ns, "web-5f6", controllerRef("apps/v1", "Deployment", dep))
			createOwnedPod(t, c, ns, "web-5f6-aaaaa", nil, controllerRef("apps/v1", "ReplicaSet", rs))
			cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
				Spec: batchv1.CronJobSpec{Schedule: "0 1 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podTemplate(nil)}}}}
			require.NoError(t, c.Create(ctx, cj))
			job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly-1",
				Annotations:     map[string]string{v1alpha1.IgnoreAnnotation: "true"},
				OwnerReferences: controllerRef("batch/v1", "CronJob", cj)},
				Spec: batchv1.JobSpec{Template: podTemplate(nil)}}
			require.NoError(t, c.Create(ctx, job))
			createOwnedPod(t, c, ns, "nightly-1-xyz", nil, controllerRef("batch/v1", "Job", job))
			createOwnedPod(t, c, ns, "plain", nil, nil)
		}))
		before := ignored()
		createEvent(t, c, ns, "deployment-pod", "Warning", "BackOff", "Pod", "web-5f6-aaaaa")
		createEvent(t, c, ns, "job-pod", "Warning", "BackOff", "Pod", "nightly-1-xyz")
		createEvent(t, c, ns, "deployment", "Warning", "ProgressDeadlineExceeded", "Deployment", "web",
			func(ev *corev1.Event) { ev.InvolvedObject.APIVersion = "apps/v1" })
		createEvent(t, c, ns, "plain", "Warning", "BackOff", "Pod", "plain")
		for _, n := range []string{"deployment-pod", "job-pod", "deployment", "plain"} {
			f.seen.wait(t, ns, n)
		}
		require.Eventually(t, func() bool { return status(f.policy).TotalEventsProcessed == 1 }, 10*time.Second, 20*time.Millisecond)
		assert.Equal(t, []string{"plain"}, f.rec.events(), "events of opted-out workloads are not delivered")
		assert.Equal(t, 3.0, ignored()-before, "they are counted as ignored")

		// The namespace opts out: the plain Pod's next event is ignored too.
		setNamespaceAnnotation(t, c, ns, "true")
		require.Eventually(t, func() bool { return optedOut(storeMeta(f.run.w.namespaces, ns)) }, 10*time.Second, 10*time.Millisecond)
		createEvent(t, c, ns, "plain-2", "Warning", "FailedMount", "Pod", "plain")
		f.seen.wait(t, ns, "plain-2")
		// And opts back in: the next one is delivered.
		setNamespaceAnnotation(t, c, ns, "")
		require.Eventually(t, func() bool { return !optedOut(storeMeta(f.run.w.namespaces, ns)) }, 10*time.Second, 10*time.Millisecond)
		createEvent(t, c, ns, "plain-3", "Warning", "Unhealthy", "Pod", "plain")
		require.Eventually(t, func() bool { return status(f.policy).TotalEventsProcessed == 2 }, 10*time.Second, 20*time.Millisecond)
		assert.Equal(t, []string{"plain", "plain-3"}, f.rec.events())
		assert.Equal(t, 4.0, ignored()-before)
		st := status(f.policy)
		assert.Equal(t, st.TotalEventsProcessed, st.OutcomeSum(), "ignored events are not counted: %+v", st)
		// Ignored events are not remembered: the next subtest's watcher would
		// see plain-2 anew, now that the namespace opted back in.
		require.NoError(t, c.Delete(ctx, f.policy))
	})

	t.Run("CEL sees the involved object's labels, annotations and owners", func(t *testing.T) {
		const ns = "objcel"
		f := newFixture(t, env, ns, v1alpha1.EventSelector{Expression: `object.metadata.labels['team'] == 'payments'`},
			withPolicy(func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = append(p.Spec.EventSelectors, v1alpha1.EventSelector{
					Expression: `object.metadata.ownerReferences.exists(r, r.controller && r.kind == 'ReplicaSet' && r.name == 'api-1')`})
				p.Spec.ExcludeSelectors = []v1alpha1.EventSelector{
					{Expression: `object.metadata.annotations[?'example.com/quiet'].orValue('') == 'yes'`}}
			}),
			beforeStart(func() {
				dep := createDeployment(t, c, ns, "pay", map[string]string{"team": "payments"}, nil)
				rs := createReplicaSet(t, c, ns, "api-1", nil)
				createOwnedPod(t, c, ns, "pay-1", map[string]string{"team": "payments"}, controllerRef("apps/v1", "Deployment", dep))
				createOwnedPod(t, c, ns, "search-1", map[string]string{"team": "search"}, nil)
				createOwnedPod(t, c, ns, "bare", nil, nil)
				createOwnedPod(t, c, ns, "api-1-x", nil, controllerRef("apps/v1", "ReplicaSet", rs))
				quiet := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pay-quiet", Labels: map[string]string{"team": "payments"},
					Annotations: map[string]string{"example.com/quiet": "yes"}}, Spec: podTemplate(nil).Spec}
				require.NoError(t, c.Create(ctx, quiet))
			}))
		createEvent(t, c, ns, "pay", "Warning", "BackOff", "Pod", "pay-1")
		createEvent(t, c, ns, "search", "Warning", "BackOff", "Pod", "search-1")
		createEvent(t, c, ns, "bare", "Warning", "BackOff", "Pod", "bare")
		createEvent(t, c, ns, "owned", "Warning", "BackOff", "Pod", "api-1-x")
		createEvent(t, c, ns, "quiet", "Warning", "BackOff", "Pod", "pay-quiet")
		createEvent(t, c, ns, "deployment", "Warning", "ProgressDeadlineExceeded", "Deployment", "pay",
			func(ev *corev1.Event) { ev.InvolvedObject.APIVersion = "apps/v1" })
		createEvent(t, c, ns, "gone", "Warning", "BackOff", "Pod", "never-created")
		for _, n := range []string{"pay", "search", "bare", "owned", "quiet", "deployment", "gone"} {
			f.seen.wait(t, ns, n)
		}
		require.Eventually(t, func() bool { return status(f.policy).TotalEventsProcessed == 3 }, 10*time.Second, 20*time.Millisecond)
		assert.ElementsMatch(t, []string{"pay", "owned", "deployment"}, f.rec.events())
		st := status(f.policy)
		assert.Equal(t, st.TotalEventsProcessed, st.OutcomeSum(), "%+v", st)
	})
}

func podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
}

func controllerRef(apiVersion, kind string, owner client.Object) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), Controller: new(true)}}
}

func createDeployment(t *testing.T, c client.Client, ns, name string, labels, annotations map[string]string) *appsv1.Deployment {
	t.Helper()
	sel := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: podTemplate(sel)}}
	d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	require.NoError(t, c.Create(context.Background(), d))
	return d
}

func createReplicaSet(t *testing.T, c client.Client, ns, name string, owners []metav1.OwnerReference) *appsv1.ReplicaSet {
	t.Helper()
	sel := map[string]string{"rs": name}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: podTemplate(sel)}}
	rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	require.NoError(t, c.Create(context.Background(), rs))
	return rs
}

func createOwnedPod(t *testing.T, c client.Client, ns, name string, labels map[string]string, owners []metav1.OwnerReference) {
	t.Helper()
	require.NoError(t, c.Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, OwnerReferences: owners},
		Spec:       podTemplate(nil).Spec}))
}

// setNamespaceAnnotation sets the opt-out annotation of ns to value ("":
// removes it).
func setNamespaceAnnotation(t *testing.T, c client.Client, ns, value string) {
	t.Helper()
	var cur corev1.Namespace
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: ns}, &cur))
	patch := client.MergeFrom(cur.DeepCopy())
	if value == "" {
		delete(cur.Annotations, v1alpha1.IgnoreAnnotation)
	} else {
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[v1alpha1.IgnoreAnnotation] = value
	}
	require.NoError(t, c.Patch(context.Background(), &cur, patch))
}
