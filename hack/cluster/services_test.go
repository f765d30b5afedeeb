package main

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

// echoServer answers each line with "<name> <line>" on 127.0.0.1.
func echoServer(t *testing.T, name string) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				line, _ := bufio.NewReader(c).ReadString('\n')
				_, _ = c.Write([]byte(name + " " + line))
			}()
		}
	}()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

func backendPod(name, node string, hostNetwork, ready bool, port int32) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{NodeName: node, HostNetwork: hostNetwork, Containers: []corev1.Container{{
			Name: "c", Ports: []corev1.ContainerPort{{Name: "webhook", ContainerPort: port}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

// ask dials addr and returns the answer to one line, or the dial error.
func ask(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Write([]byte("hi\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestServiceForwarder(t *testing.T) {
	const clusterIP = "127.0.3.77"
	// A free port on clusterIP for the Service port.
	probe, err := net.Listen("tcp", clusterIP+":0")
	require.NoError(t, err)
	svcPort := int32(probe.Addr().(*net.TCPAddr).Port)
	require.NoError(t, probe.Close())
	addr := net.JoinHostPort(clusterIP, strconv.Itoa(int(svcPort)))

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: "ns"},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP, Selector: map[string]string{"app": "x"},
			Ports: []corev1.ServicePort{{Port: svcPort, TargetPort: intstr.FromString("webhook"), Protocol: corev1.ProtocolTCP}}},
	}
	tests := []struct {
		name     string
		pods     []*corev1.Pod
		wantFrom string // "" when nothing may listen
	}{
		{name: "ready hostNetwork pod on the real node", pods: []*corev1.Pod{backendPod("a", realNodeName, true, true, echoServer(t, "a"))}, wantFrom: "a"},
		{name: "not ready", pods: []*corev1.Pod{backendPod("a", realNodeName, true, false, echoServer(t, "a"))}},
		{name: "pod network (only lo, unreachable)", pods: []*corev1.Pod{backendPod("a", realNodeName, false, true, echoServer(t, "a"))}},
		{name: "on the kwok node", pods: []*corev1.Pod{backendPod("a", nodeName, true, true, echoServer(t, "a"))}},
		{name: "no pods"},
		{name: "a pod without the named target port is no backend", pods: []*corev1.Pod{
			func() *corev1.Pod {
				p := backendPod("helm-test", realNodeName, true, true, echoServer(t, "t"))
				p.Spec.Containers[0].Ports = nil
				return p
			}(),
			backendPod("z", realNodeName, true, true, echoServer(t, "z")),
		}, wantFrom: "z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kube := fake.NewClientset(svc)
			for _, p := range tc.pods {
				_, err := kube.CoreV1().Pods("ns").Create(t.Context(), p, metav1.CreateOptions{})
				require.NoError(t, err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- runServiceForwarder(ctx, kube, 50*time.Millisecond) }()
			t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })
			if tc.wantFrom == "" {
				// Several resyncs pass; nothing may listen on the ClusterIP.
				time.Sleep(300 * time.Millisecond)
				_, err := ask(addr)
				assert.Error(t, err)
				return
			}
			require.Eventually(t, func() bool {
				got, err := ask(addr)
				return err == nil && got == tc.wantFrom+" hi\n"
			}, 5*time.Second, 20*time.Millisecond)
			// Every connection reaches the one backend.
			for range 3 {
				got, err := ask(addr)
				require.NoError(t, err)
				assert.Equal(t, tc.wantFrom+" hi\n", got)
			}
			// The backend goes away: the listener closes.
			require.NoError(t, kube.CoreV1().Pods("ns").Delete(t.Context(), tc.wantFrom, metav1.DeleteOptions{}))
			require.Eventually(t, func() bool { _, err := ask(addr); return err != nil }, 5*time.Second, 20*time.Millisecond)
		})
	}
}

func TestTargetPort(t *testing.T) {
	pod := backendPod("a", realNodeName, true, true, 9443)
	tests := []struct {
		name    string
		target  intstr.IntOrString
		want    int32
		wantErr string
	}{
		{name: "named", target: intstr.FromString("webhook"), want: 9443},
		{name: "number", target: intstr.FromInt32(8081), want: 8081},
		{name: "empty: the Service port", want: 443},
		{name: "unknown name", target: intstr.FromString("metrics"), wantErr: `no container port named "metrics"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := targetPort(corev1.ServicePort{Port: 443, TargetPort: tc.target}, pod)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
