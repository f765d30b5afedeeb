//go:build realnode

// Smoke test of the running local cluster's real node (make node-smoke):
// a real container crash-loops under the kubelet, which posts the BackOff
// Warning Event, and the previous attempt's logs come through the apiserver;
// a container over its memory limit is OOMKilled; the controller image built
// without a registry runs there.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type smoke struct {
	kube kubernetes.Interface
	ns   string
}

func newSmoke(t *testing.T) *smoke {
	t.Helper()
	kubeconfig := os.Getenv("KUBECONFIG")
	require.NotEmpty(t, kubeconfig, "KUBECONFIG names the local cluster (make node-smoke sets it)")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	s := &smoke{kube: kube, ns: fmt.Sprintf("realnode-smoke-%d", time.Now().UnixNano()%1e6)}
	_, err = kube.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), s.ns, metav1.DeleteOptions{})
	})
	// Pods need the namespace's default ServiceAccount.
	s.await(t, 30*time.Second, "the default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().ServiceAccounts(s.ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, client404(err)
	})
	return s
}

func (s *smoke) await(t *testing.T, timeout time.Duration, what string, f func(context.Context) (bool, error)) {
	t.Helper()
	require.NoError(t, poll(t.Context(), timeout, what, f))
}

// pod creates a pod of one container without a node name: the scheduler
// must pick the real node, the kwok node being tainted.
func (s *smoke) pod(t *testing.T, name, image string, args []string, restart corev1.RestartPolicy) *corev1.Pod {
	t.Helper()
	p, err := s.kube.CoreV1().Pods(s.ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                restart,
			AutomountServiceAccountToken: new(false),
			Containers:                   []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullNever, Args: args}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return p
}

func (s *smoke) status(ctx context.Context, name string) (*corev1.Pod, *corev1.ContainerStatus, error) {
	p, err := s.kube.CoreV1().Pods(s.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || len(p.Status.ContainerStatuses) == 0 {
		return p, nil, err
	}
	return p, &p.Status.ContainerStatuses[0], nil
}

func (s *smoke) logs(ctx context.Context, name string, previous bool) (string, error) {
	b, err := s.kube.CoreV1().Pods(s.ns).GetLogs(name, &corev1.PodLogOptions{Previous: previous}).DoRaw(ctx)
	return string(b), err
}

func TestRealNodeCrashLoop(t *testing.T) {
	s := newSmoke(t)
	// Each attempt logs, runs 4 s, then fails: while the second attempt
	// runs, the first one's logs are the "previous" ones (the kubelet
	// removes an exited container once the next one has exited too).
	p := s.pod(t, "crash", workloadImage, []string{"crash", "--run=4s", "--message=smoke: fatal error"}, corev1.RestartPolicyAlways)

	var previous string
	s.await(t, 90*time.Second, "the second attempt to run", func(ctx context.Context) (bool, error) {
		pod, cs, err := s.status(ctx, "crash")
		if err != nil || cs == nil {
			return false, err
		}
		if pod.Spec.NodeName != realNodeName {
			return false, fmt.Errorf("scheduled to %q, not the real node", pod.Spec.NodeName)
		}
		if cs.RestartCount < 1 || cs.State.Running == nil {
			return false, nil
		}
		previous, err = s.logs(ctx, "crash", true)
		return err == nil, err
	})
	assert.Contains(t, previous, "crash: line 3", "the previous attempt's stdout, through the apiserver")
	assert.Contains(t, previous, "smoke: fatal error", "the previous attempt's stderr")
	assert.NotContains(t, previous, "unable to retrieve container logs", "the kubelet's no-logs answer is not a log")

	var backOff *corev1.Event
	s.await(t, 90*time.Second, "the kubelet's BackOff Event", func(ctx context.Context) (bool, error) {
		evs, err := s.kube.CoreV1().Events(s.ns).List(ctx, metav1.ListOptions{
			FieldSelector: fields.Set{"involvedObject.uid": string(p.UID), "reason": "BackOff"}.String(),
		})
		if err != nil || len(evs.Items) == 0 {
			return false, err
		}
		backOff = &evs.Items[0]
		return true, nil
	})
	assert.Equal(t, corev1.EventTypeWarning, backOff.Type)
	assert.Equal(t, "kubelet", backOff.Source.Component)
	assert.Contains(t, backOff.Message, "Back-off restarting failed container app")

	_, cs, err := s.status(t.Context(), "crash")
	require.NoError(t, err)
	require.NotNil(t, cs)
	assert.True(t, strings.HasPrefix(cs.ContainerID, "containerd://"), "a real container: %s", cs.ContainerID)
	require.NotNil(t, cs.LastTerminationState.Terminated, "the last attempt's termination")
	assert.Equal(t, int32(1), cs.LastTerminationState.Terminated.ExitCode)
	assert.Equal(t, "Error", cs.LastTerminationState.Terminated.Reason)
}

// TestRealNodeOOMKilled: a container allocating far beyond its memory limit
// is OOM-killed by the kernel and the kubelet reports OOMKilled.
func TestRealNodeOOMKilled(t *testing.T) {
	s := newSmoke(t)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "oom"},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: new(false),
			Containers: []corev1.Container{{
				Name: "app", Image: workloadImage, ImagePullPolicy: corev1.PullNever, Args: []string{"memhog", "256"},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}},
			}},
		},
	}
	_, err := s.kube.CoreV1().Pods(s.ns).Create(t.Context(), p, metav1.CreateOptions{})
	require.NoError(t, err)
	var term *corev1.ContainerStateTerminated
	s.await(t, 60*time.Second, "the OOM kill", func(ctx context.Context) (bool, error) {
		_, cs, err := s.status(ctx, "oom")
		if err != nil || cs == nil || cs.State.Terminated == nil {
			return false, err
		}
		term = cs.State.Terminated
		return true, nil
	})
	assert.Equal(t, "OOMKilled", term.Reason)
	assert.Equal(t, int32(137), term.ExitCode, "SIGKILL")
}

// TestRealNodeLoopbackCheck: the loopback check (cluster up and status)
// covers the processes of hostNetwork containers.
func TestRealNodeLoopbackCheck(t *testing.T) {
	s := newSmoke(t)
	dir := filepath.Dir(os.Getenv("KUBECONFIG"))
	tests := []struct {
		name, addr string
		wantErr    bool
	}{
		{name: "loopback", addr: "127.0.0.1:0"},
		{name: "wildcard", addr: "0.0.0.0:0", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.kube.CoreV1().Pods(s.ns).Create(t.Context(), &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "listen-" + tc.name},
				Spec: corev1.PodSpec{
					HostNetwork:                  true,
					AutomountServiceAccountToken: new(false),
					Containers:                   []corev1.Container{{Name: "app", Image: workloadImage, ImagePullPolicy: corev1.PullNever, Args: []string{"listen", tc.addr}}},
				},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
			t.Cleanup(func() {
				grace := int64(0)
				_ = s.kube.CoreV1().Pods(s.ns).Delete(context.Background(), "listen-"+tc.name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
			})
			s.await(t, 60*time.Second, "the listener", func(ctx context.Context) (bool, error) {
				out, err := s.logs(ctx, "listen-"+tc.name, false)
				return err == nil && strings.Contains(out, "listening on"), nil
			})
			containers, err := hostNetworkContainers(dir)
			require.NoError(t, err)
			require.NotEmpty(t, containers, "the hostNetwork container's process")
			err = checkLoopback(containers)
			if !tc.wantErr {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "container process")
		})
	}
}

// TestRealNodeInClusterClient: a hostNetwork pod reaches the apiserver
// through the kubernetes Service (cluster service-proxy) with its
// ServiceAccount token, as an in-cluster client does.
func TestRealNodeInClusterClient(t *testing.T) {
	s := newSmoke(t)
	_, err := s.kube.CoreV1().Pods(s.ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "whoami"},
		Spec: corev1.PodSpec{
			HostNetwork:   true,
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "app", Image: workloadImage, ImagePullPolicy: corev1.PullNever, Args: []string{"whoami"}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	s.await(t, 60*time.Second, "the in-cluster client to finish", func(ctx context.Context) (bool, error) {
		pod, err := s.kube.CoreV1().Pods(s.ns).Get(ctx, "whoami", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed, nil
	})
	out, err := s.logs(t.Context(), "whoami", false)
	require.NoError(t, err)
	assert.Equal(t, "whoami: system:serviceaccount:"+s.ns+":default\n", out)
}

// TestRealNodeControllerImage runs the controller image that `cluster image`
// imported (make node-image) with --version.
func TestRealNodeControllerImage(t *testing.T) {
	ref := os.Getenv("CONTROLLER_IMAGE")
	if ref == "" {
		t.Skip("CONTROLLER_IMAGE is not set (make node-smoke sets it after make node-image)")
	}
	s := newSmoke(t)
	s.pod(t, "controller", ref, []string{"--version"}, corev1.RestartPolicyNever)
	s.await(t, 60*time.Second, "the controller image to run --version", func(ctx context.Context) (bool, error) {
		pod, err := s.kube.CoreV1().Pods(s.ns).Get(ctx, "controller", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if pod.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("the controller image failed: %+v", pod.Status.ContainerStatuses)
		}
		return pod.Status.Phase == corev1.PodSucceeded, nil
	})
	out, err := s.logs(t.Context(), "controller", false)
	require.NoError(t, err)
	assert.NotEmpty(t, strings.TrimSpace(out), "the version it prints")
	err = s.kube.CoreV1().Pods(s.ns).Delete(t.Context(), "controller", metav1.DeleteOptions{})
	if !apierrors.IsNotFound(err) {
		require.NoError(t, err)
	}
}
