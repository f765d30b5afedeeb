//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The local cluster's real node (docs/local-cluster.md): its name, and the
// workload image `cluster up` imports (hack/cluster/workload).
const (
	realNodeName  = "127.0.0.1"
	workloadImage = "dot-ai.local/workload:1"
	// realCrashMessage is the crashing container's last line (stderr).
	realCrashMessage = "fatal error: cannot reach payments backend"
)

// controllerBinary is the controller the harness runs: CONTROLLER_BIN (make
// passes it, so a worktree can build its own), else bin/dot-ai-controller.
func controllerBinary(root string) string {
	if b := os.Getenv("CONTROLLER_BIN"); b != "" {
		return b
	}
	return filepath.Join(root, "bin", "dot-ai-controller")
}

// realRequest is what the scenario reads of a remediate request.
type realRequest struct {
	Issue  string `json:"issue"`
	Policy struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"policyRef"`
	Context struct {
		Event struct {
			Reason         string `json:"reason"`
			InvolvedObject struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"involvedObject"`
			Source string `json:"source"`
		} `json:"event"`
		Logs []struct {
			Pod       string   `json:"pod"`
			Container string   `json:"container"`
			Previous  bool     `json:"previous"`
			Lines     []string `json:"lines"`
		} `json:"logStreams"`
		ContainerStatuses []struct {
			Pod          string `json:"pod"`
			Container    string `json:"container"`
			RestartCount int32  `json:"restartCount"`
			State        string `json:"state"`
			Reason       string `json:"reason"`
			ExitCode     *int32 `json:"exitCode"`
			LastReason   string `json:"lastReason"`
			LastExitCode *int32 `json:"lastExitCode"`
		} `json:"containerStatuses"`
		Notes []string `json:"notes"`
	} `json:"context"`
}

// testRealNode: real containers crash-loop on the real node (a crash with
// exit code 1; an OOM kill under a memory limit far below what the container
// allocates). The kubelet's BackOff Event is selected by the
// container-status reason (decision 7 (docs/design/decisions.md#d7)) and reaches the stub with the
// container status and the failed attempt's real log lines; the kubelet's
// "unable to retrieve container logs" answer is never a log line.
func (s *suite) testRealNode(t *testing.T) {
	if s.external {
		t.Skip("the workload image is the local cluster's")
	}
	tests := []struct {
		name   string
		reason string // the policy's selector reason
		app    corev1.Container
		// The failed attempt's reason and exit code, now or as the last termination.
		wantReason string
		wantExit   int32
		wantLines  []string // in the failed attempt's logs
	}{
		{
			name: "crash loop", reason: "CrashLoopBackOff",
			// Each attempt logs, runs 3 s, then fails.
			app:        corev1.Container{Args: []string{"crash", "--run=3s", "--message=" + realCrashMessage}},
			wantReason: "Error", wantExit: 1,
			wantLines: []string{"crash: line 3", realCrashMessage},
		},
		{
			name: "OOM kill", reason: "OOMKilled",
			app: corev1.Container{Args: []string{"memhog", "256"}, Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}}},
			wantReason: "OOMKilled", wantExit: 137,
			wantLines: []string{"memhog: allocated 1 MiB"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, raw := s.realFailure(t, tc.reason, tc.app)
			t.Logf("The request's issue:\n%s", got.Issue)

			// The kubelet's Event, selected by the container-status reason.
			assert.Equal(t, "BackOff", got.Context.Event.Reason)
			assert.Equal(t, "Pod/payments", got.Context.Event.InvolvedObject.Kind+"/"+got.Context.Event.InvolvedObject.Name)
			assert.Contains(t, got.Context.Event.Source, "kubelet")

			// The container status as the kubelet reported it.
			require.NotEmpty(t, got.Context.ContainerStatuses)
			cs := got.Context.ContainerStatuses[0]
			assert.Equal(t, "app", cs.Container)
			failed := (cs.Reason == tc.wantReason && cs.ExitCode != nil && *cs.ExitCode == tc.wantExit) ||
				(cs.LastReason == tc.wantReason && cs.LastExitCode != nil && *cs.LastExitCode == tc.wantExit)
			assert.Truef(t, failed, "container status shows the failure (%s, exit code %d): %+v", tc.wantReason, tc.wantExit, cs)

			// The failed attempt's real lines are in the request.
			var lines []string
			for _, l := range got.Context.Logs {
				if l.Pod == "payments" && l.Container == "app" {
					lines = append(lines, l.Lines...)
				}
			}
			for _, want := range tc.wantLines {
				assert.Contains(t, strings.Join(lines, "\n"), want, "the failed attempt's output")
			}
			// A previous instance's log is real lines (above) or an explicit note.
			for _, n := range got.Context.Notes {
				if strings.Contains(n, "(previous)") {
					assert.Contains(t, n, "unavailable (the kubelet no longer has them)")
				}
			}
			assert.NotContains(t, raw, "unable to retrieve container logs", "the kubelet's no-logs answer is never sent as logs")
		})
	}
}

// realFailure creates a namespace with a policy selecting reason, runs app
// (image and name filled in) as pod "payments" without a node choice (the
// scheduler puts it on the real node: kwok is tainted) and returns the
// first request about it the stub receives.
func (s *suite) realFailure(t *testing.T, reason string, app corev1.Container) (realRequest, string) {
	t.Helper()
	ns := s.realPodWithPolicy(t, reason, app)
	return s.awaitRealRequest(t, ns)
}

// realPodWithPolicy creates the namespace, the policy and the pod of
// realFailure and returns the namespace.
func (s *suite) realPodWithPolicy(t *testing.T, reason string, app corev1.Container) string {
	t.Helper()
	ctx := t.Context()
	ns := "real-e2e-" + randSuffix()
	_, err := s.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	policy := fmt.Sprintf(`apiVersion: remediation.dot-ai.io/v1alpha1
kind: RemediationPolicy
metadata: {name: real-failures, namespace: %s}
spec:
  eventSelectors:
  - type: Warning
    reason: %s
    involvedObjectKind: Pod
  contextGathering: {includePreviousLogs: true}
`, ns, reason)
	out, err := s.kubectl(policy, "apply", "-f", "-")
	require.NoErrorf(t, err, "%s", out)
	app.Name, app.Image, app.ImagePullPolicy = "app", workloadImage, corev1.PullNever
	_, err = s.kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "payments"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{app}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return ns
}

// awaitRealRequest returns the first request about the pod of ns the stub
// receives, and checks the pod ran as a real container on the real node.
func (s *suite) awaitRealRequest(t *testing.T, ns string) (realRequest, string) {
	t.Helper()
	var got realRequest
	var raw string
	require.Eventually(t, func() bool {
		for _, r := range s.stub.Requests() {
			var req realRequest
			if json.Unmarshal(r.Body, &req) == nil && req.Policy.Namespace == ns {
				got, raw = req, string(r.Body)
				return true
			}
		}
		return false
	}, 120*time.Second, 500*time.Millisecond, "no request about the real pod reached the stub; controller log: %s", s.controllerLog())
	assert.Equal(t, "real-failures", got.Policy.Name)

	pod, err := s.kube.CoreV1().Pods(ns).Get(t.Context(), "payments", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, realNodeName, pod.Spec.NodeName, "ran on the real node")
	require.Len(t, pod.Status.ContainerStatuses, 1)
	assert.True(t, strings.HasPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://"), "a real container")
	return got, raw
}
