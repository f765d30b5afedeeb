//go:build e2e

package e2e

import (
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
	} `json:"policy"`
	Context struct {
		Event struct {
			Reason         string `json:"reason"`
			InvolvedObject string `json:"involvedObject"`
			Source         string `json:"source"`
		} `json:"event"`
		Logs []struct {
			Pod       string   `json:"pod"`
			Container string   `json:"container"`
			Previous  bool     `json:"previous"`
			Lines     []string `json:"lines"`
		} `json:"logs"`
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

// testRealCrashLoop: a real container crash-loops on the real node; the
// kubelet's BackOff Event is selected by `reason: CrashLoopBackOff` (a
// container-status reason, decision 7) and reaches the stub with the crashed
// attempt's real log lines; the kubelet's "unable to retrieve container
// logs" answer is never a log line.
func (s *suite) testRealCrashLoop(t *testing.T) {
	if s.external {
		t.Skip("the workload image is the local cluster's")
	}
	ctx := t.Context()
	ns := "real-e2e-" + randSuffix()
	_, err := s.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.kube.CoreV1().Namespaces().Delete(t.Context(), ns, metav1.DeleteOptions{}) })
	policy := fmt.Sprintf(`apiVersion: remediation.dot-ai.io/v1alpha1
kind: RemediationPolicy
metadata: {name: real-crashloops, namespace: %s}
spec:
  eventSelectors:
  - type: Warning
    reason: CrashLoopBackOff
    involvedObjectKind: Pod
  contextGathering: {includePreviousLogs: true}
`, ns)
	out, err := s.kubectl(policy, "apply", "-f", "-")
	require.NoErrorf(t, err, "%s", out)

	// Each attempt logs, runs 3 s, then fails (exit code 1). No node choice:
	// the scheduler puts it on the real node (kwok is tainted).
	_, err = s.kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "payments"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: workloadImage, ImagePullPolicy: corev1.PullNever,
			Args: []string{"crash", "--run=3s", "--message=" + realCrashMessage},
		}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

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
	}, 120*time.Second, 500*time.Millisecond, "no request for the real crash loop reached the stub; controller log: %s", s.ctrl.LogFile)

	t.Logf("The request's issue:\n%s", got.Issue)
	pod, err := s.kube.CoreV1().Pods(ns).Get(ctx, "payments", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, realNodeName, pod.Spec.NodeName, "ran on the real node")
	require.Len(t, pod.Status.ContainerStatuses, 1)
	assert.True(t, strings.HasPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://"), "a real container")

	// The kubelet's Event, selected by the container-status reason.
	assert.Equal(t, "BackOff", got.Context.Event.Reason)
	assert.Contains(t, got.Context.Event.InvolvedObject, "payments")
	assert.Contains(t, got.Context.Event.Source, "kubelet")
	assert.Equal(t, "real-crashloops", got.Policy.Name)

	// The container status as the kubelet reported it: the crashed attempt
	// ended with exit code 1, reason Error (now or as the last termination).
	require.NotEmpty(t, got.Context.ContainerStatuses)
	cs := got.Context.ContainerStatuses[0]
	assert.Equal(t, "app", cs.Container)
	crashed := (cs.Reason == "Error" && cs.ExitCode != nil && *cs.ExitCode == 1) ||
		(cs.LastReason == "Error" && cs.LastExitCode != nil && *cs.LastExitCode == 1)
	assert.Truef(t, crashed, "container status shows the crash (exit code 1, Error): %+v", cs)

	// The crashed attempt's real lines (stdout and stderr) are in the request.
	var lines []string
	for _, l := range got.Context.Logs {
		if l.Pod == "payments" && l.Container == "app" {
			lines = append(lines, l.Lines...)
		}
	}
	joined := strings.Join(lines, "\n")
	assert.Contains(t, joined, "crash: line 3", "the crashed attempt's stdout")
	assert.Contains(t, joined, realCrashMessage, "the crashed attempt's stderr")
	assert.Contains(t, got.Issue, realCrashMessage, "the issue text names the crash")
	// A previous instance's log is real lines or an explicit note.
	for _, l := range got.Context.Logs {
		if l.Previous {
			assert.Contains(t, strings.Join(l.Lines, "\n"), "crash: started", "previous instance's lines")
		}
	}
	for _, n := range got.Context.Notes {
		if strings.Contains(n, "(previous)") {
			assert.Contains(t, n, "unavailable (the kubelet no longer has them)")
		}
	}
	assert.NotContains(t, raw, "unable to retrieve container logs", "the kubelet's no-logs answer is never sent as logs")
}
