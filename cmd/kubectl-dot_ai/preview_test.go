package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/testenv"
)

const previewPolicy = `apiVersion: remediation.dot-ai.io/v1alpha1
kind: RemediationPolicy
metadata:
  name: preview
  namespace: team-a
spec:
  eventSelectors:
    - type: Warning
  excludeSelectors:
    - reason: Unhealthy
      message: "^Readiness probe failed"
  minOccurrences: 2
  occurrenceWindowSeconds: 600
  rateLimiting:
    eventsPerMinute: 10
    cooldownMinutes: 5
`

// TestPreview runs `kubectl dot-ai preview` against a real apiserver with a
// known set of Events.
func TestPreview(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	ctx := t.Context()
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web-5f6c7d8b9-aaaaa"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "localhost/web:1"}}}}
	require.NoError(t, c.Create(ctx, pod))
	// A Job opted out of every policy, and its Pod.
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "noisy",
		Annotations: map[string]string{v1alpha1.IgnoreAnnotation: "true"}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "c", Image: "localhost/c:1"}}}}}}
	require.NoError(t, c.Create(ctx, job))
	jobPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "noisy-x", OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: new(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "localhost/c:1"}}}}
	require.NoError(t, c.Create(ctx, jobPod))
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	event := func(name, typ, reason, msg string, at time.Duration) {
		ts := metav1.NewTime(t0.Add(at))
		podName := pod.Name
		if name == "noisy" {
			podName = jobPod.Name
		}
		require.NoError(t, c.Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "team-a", Name: name},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team-a", Name: podName, APIVersion: "v1"},
			Type:           typ, Reason: reason, Message: msg, Count: 1, FirstTimestamp: ts, LastTimestamp: ts,
		}))
	}
	const backOff = "Back-off restarting failed container web in pod web-5f6c7d8b9-aaaaa"
	event("crash-1", "Warning", "BackOff", backOff, 0)
	event("crash-2", "Warning", "BackOff", backOff, time.Second)
	event("crash-3", "Warning", "BackOff", backOff, 2*time.Second)
	event("probe", "Warning", "Unhealthy", "Readiness probe failed: HTTP 503", 3*time.Second)
	event("pulled", "Normal", "Pulled", "Successfully pulled image", 4*time.Second)
	event("noisy", "Warning", "BackOff", "Back-off restarting failed container c in pod noisy-x", 5*time.Second)

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, env.KubeConfig, 0o600))
	run := func(policy string, args ...string) (string, error) {
		file := filepath.Join(dir, "policy.yaml")
		require.NoError(t, os.WriteFile(file, []byte(policy), 0o600))
		var out, errOut bytes.Buffer
		root := newRoot(genericclioptions.IOStreams{Out: &out, ErrOut: &errOut})
		root.SetArgs(append([]string{"--kubeconfig", kubeconfig, "preview", "-f", file}, args...))
		err := root.ExecuteContext(ctx)
		return out.String() + errOut.String(), err
	}

	out, err := run(previewPolicy, "--show-issues", "1")
	require.NoError(t, err, out)
	assert.Contains(t, out, "6 events: 1 would be sent, 2 below threshold, 0 cooled down, 0 rate limited, 1 excluded, 1 ignored, 1 not selected")
	assert.Regexp(t, `crash-1\s+Warning\s+BackOff\s+Pod/web-5f6c7d8b9-aaaaa\s+below threshold\s+1 of 2 occurrences of Pod/team-a/web-5f6c7d8b9-aaaaa within 10m0s`, out,
		"a Pod the apiserver knows without an owner is its own problem, as in the watcher")
	assert.Regexp(t, `crash-2\s+Warning\s+BackOff\s+\S+\s+would be sent`, out)
	assert.Regexp(t, `crash-3\s+.*below threshold`, out, "the count starts over after the threshold is reached")
	assert.Regexp(t, `probe\s+.*excluded`, out)
	assert.Regexp(t, `noisy\s+Warning\s+BackOff\s+Pod/noisy-x\s+ignored`, out, "the Job's opt-out annotation, through the Pod's owner")
	assert.NotRegexp(t, `(?m)^team-a\s+pulled`, out, "events not selected are only counted")
	assert.Contains(t, out, "--- issue for team-a/crash-2 (mode manual) ---")
	assert.Contains(t, out, "Kubernetes Warning event BackOff on Pod/web-5f6c7d8b9-aaaaa in namespace team-a", "the issue text dot-ai would get")

	// The apiserver's admission decides: an invalid policy is reported, not
	// previewed, and nothing is created.
	out, err = run(previewPolicy + "  mode: sometimes\n")
	require.Error(t, err)
	assert.Contains(t, out, "the policy would be rejected")
	assert.Contains(t, out, "spec.mode")
}
