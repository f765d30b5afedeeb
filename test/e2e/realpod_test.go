//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// realNodeValuesFile runs the chart's pods on the local cluster's real node
// (make ct-install uses it too; docs/local-cluster.md).
const realNodeValuesFile = "hack/cluster/real-node-values.yaml"

// controllerLog says where the controller's output is: the harness's log
// file, or the real pod's container log.
func (s *suite) controllerLog() string {
	if s.ctrl != nil {
		return s.ctrl.LogFile
	}
	return fmt.Sprintf("kubectl logs -n %s -l app.kubernetes.io/component=controller [--previous]", s.releaseNS)
}

// controllerPod returns the release's single controller pod (realPod).
func (s *suite) controllerPod(t *testing.T) *corev1.Pod {
	t.Helper()
	pod, err := s.controllerPodNow(t.Context())
	require.NoError(t, err)
	return pod
}

func (s *suite) controllerPodNow(ctx context.Context) (*corev1.Pod, error) {
	list, err := s.kube.CoreV1().Pods(s.releaseNS).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + s.release + ",app.kubernetes.io/component=controller",
	})
	if err != nil {
		return nil, err
	}
	if len(list.Items) != 1 {
		return nil, fmt.Errorf("want one controller pod, found %d", len(list.Items))
	}
	return &list.Items[0], nil
}

// containerState is the controller container's identity as the kubelet
// reports it.
type containerState struct {
	id       string // containerd://…
	restarts int32
	ready    bool
	// lastExit is how the previous container ended: its exit code, reason
	// and termination message (its last log lines when it failed, the
	// chart's FallbackToLogsOnError); empty before its first restart.
	lastExit string
}

func (s *suite) controllerContainer(t *testing.T) containerState {
	t.Helper()
	c, err := s.containerNow(t.Context())
	require.NoError(t, err)
	return c
}

func (s *suite) containerNow(ctx context.Context) (containerState, error) {
	pod, err := s.controllerPodNow(ctx)
	if err != nil {
		return containerState{}, err
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == "manager" || len(pod.Status.ContainerStatuses) == 1 {
			c := containerState{id: cs.ContainerID, restarts: cs.RestartCount, ready: cs.Ready}
			if t := cs.LastTerminationState.Terminated; t != nil {
				c.lastExit = fmt.Sprintf("exit code %d (%s): %s", t.ExitCode, t.Reason, t.Message)
			}
			return c, nil
		}
	}
	return containerState{}, fmt.Errorf("pod %s has no controller container status", pod.Name)
}

// containerPID finds the host PID of the real container's main process: the
// process whose cgroup path ends in the container's ID (the kubelet's
// cgroupfs layout .../pod<uid>/<id>) and that runs the controller binary.
func containerPID(containerID string) (int, error) {
	id := strings.TrimPrefix(containerID, "containerd://")
	if id == "" || id == containerID {
		return 0, fmt.Errorf("not a containerd container ID: %q", containerID)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if inCgroup(pid, id) && runsController(pid) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process of container %s", id)
}

func inCgroup(pid int, id string) bool {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasSuffix(sc.Text(), "/"+id) {
			return true
		}
	}
	return false
}

func runsController(pid int) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return filepath.Base(argv0) == "dot-ai-controller"
}

// killContainer SIGKILLs the real container's process, as the kernel's OOM
// killer or a crash would end it, and waits until it is gone; the kubelet,
// not the test, starts the container again.
func killContainer(containerID string) error {
	pid, err := containerPID(containerID)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !runsController(pid) { // reaped (or a zombie: cmdline is empty)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("the killed process is still running")
}

// controllerPID is the controller's host PID: the harness's child, or the
// real container's process.
func (s *suite) controllerPID(t *testing.T) int {
	t.Helper()
	if s.ctrl != nil {
		return s.ctrl.PID()
	}
	pid, err := containerPID(s.controllerContainer(t).id)
	require.NoError(t, err)
	return pid
}

// metricsURL is the controller's secure metrics endpoint: the harness's
// local port, or the real pod's (hostNetwork: its --metrics-bind-address on
// the node's 127.0.0.1).
func (s *suite) metricsURL(t *testing.T) string {
	t.Helper()
	if s.ctrl != nil {
		return s.ctrl.MetricsURL
	}
	for _, c := range s.controllerPod(t).Spec.Containers {
		for _, a := range c.Args {
			if addr, ok := strings.CutPrefix(a, "--metrics-bind-address="); ok && addr != "0" {
				return "https://" + addr + "/metrics"
			}
		}
	}
	return ""
}

// webhookService returns the webhook Service's name and the address the
// apiserver calls: the harness's forwarded ClusterIP, or the ClusterIP
// bin/cluster's service-proxy forwards to the real pod.
func (s *suite) webhookService(t *testing.T) (name, addr string) {
	t.Helper()
	if s.ctrl != nil {
		for k, v := range s.ctrl.Services {
			if name, ok := strings.CutSuffix(k, ":443"); ok {
				return name, v
			}
		}
		return "", ""
	}
	svcs, err := s.kube.CoreV1().Services(s.releaseNS).List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, svc := range svcs.Items {
		for _, p := range svc.Spec.Ports {
			if p.Port == 443 {
				return svc.Name, net.JoinHostPort(svc.Spec.ClusterIP, "443")
			}
		}
	}
	return "", ""
}

// testControllerPod: the controller is the chart's own pod, a Ready real
// container on the real node, whose process runs the controller binary.
func (s *suite) testControllerPod(t *testing.T) {
	if !s.realPod {
		t.Skip("the controller runs on this machine (E2E_HOST_CONTROLLER=1) or in an external cluster")
	}
	pod := s.controllerPod(t)
	assert.Equal(t, realNodeName, pod.Spec.NodeName, "scheduled to the real node")
	assert.True(t, pod.Spec.HostNetwork, "hostNetwork (real-node values)")
	c := s.controllerContainer(t)
	assert.True(t, strings.HasPrefix(c.id, "containerd://"), "a real container: %q", c.id)
	assert.True(t, c.ready, "Ready through the kubelet's probes")
	pid, err := containerPID(c.id)
	require.NoError(t, err, "the container's process on this machine")
	assert.Positive(t, pid)
}
