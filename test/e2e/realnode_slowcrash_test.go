//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// slowCrashMessage is the slow-crashing container's last line (stderr).
const slowCrashMessage = "fatal error: ledger sync failed after a while"

// testSlowCrash: a container logs, runs 20 s, then exits, so the next
// attempt runs long enough to be seen running. The kubelet's BackOff Event
// arrives while the MCP endpoint is down: the controller holds it, and the
// endpoint comes back once the kubelet runs the next attempt. The request
// then carries the crashed attempt's lines as the previous container's, read
// for real from the kubelet (during the back-off they are gone and only the
// note is possible), with the container running again and its last
// termination Error, exit code 1.
func (s *suite) testSlowCrash(t *testing.T) {
	if s.external {
		t.Skip("the workload image and the stub are the local cluster's")
	}
	require.NoError(t, s.stub.Down())
	up := false
	defer func() {
		if !up {
			_ = s.stub.Up()
		}
	}()
	ns := s.realPodWithPolicy(t, "BackOff", corev1.Container{Args: []string{"crash", "--run=20s", "--message=" + slowCrashMessage}})

	// The controller selected the BackOff Event and holds it: the policy
	// shows the outage.
	require.Eventuallyf(t, func() bool {
		var p v1alpha1.RemediationPolicy
		if s.c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "real-failures"}, &p) != nil {
			return false
		}
		c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Reason == v1alpha1.ReasonMCPUnreachable
	}, 120*time.Second, 500*time.Millisecond, "the BackOff Event was never held for the unreachable endpoint; controller log: %s", s.controllerLog())
	// The kubelet runs the attempt after the back-off.
	require.Eventually(t, func() bool {
		pod, err := s.kube.CoreV1().Pods(ns).Get(t.Context(), "payments", metav1.GetOptions{})
		if err != nil || len(pod.Status.ContainerStatuses) != 1 {
			return false
		}
		cs := pod.Status.ContainerStatuses[0]
		return cs.RestartCount >= 2 && cs.State.Running != nil
	}, 60*time.Second, 250*time.Millisecond, "the kubelet never ran the container again after the back-off")
	require.NoError(t, s.stub.Up())
	up = true

	got, raw := s.awaitRealRequest(t, ns)
	t.Logf("The request's issue:\n%s", got.Issue)
	assert.Equal(t, "BackOff", got.Context.Event.Reason)
	require.NotEmpty(t, got.Context.ContainerStatuses)
	cs := got.Context.ContainerStatuses[0]
	assert.Equal(t, "running", cs.State, "delivered while the next attempt runs: %+v", cs)
	assert.Equal(t, "Error", cs.LastReason)
	if assert.NotNil(t, cs.LastExitCode) {
		assert.EqualValues(t, 1, *cs.LastExitCode)
	}
	var previous []string
	for _, l := range got.Context.Logs {
		if l.Pod == "payments" && l.Container == "app" && l.Previous {
			previous = append(previous, l.Lines...)
		}
	}
	assert.Contains(t, previous, "crash: line 3", "the previous container's stdout, read from the kubelet")
	assert.Contains(t, previous, slowCrashMessage, "the previous container's last line (stderr)")
	for _, n := range got.Context.Notes {
		assert.NotContains(t, n, "(previous)", "the previous container's logs were available")
	}
	assert.NotContains(t, raw, "unable to retrieve container logs")
}
