package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// forwardServices listens on the ClusterIP and port of every Service that
// selects the Deployment's pods and forwards to the binary's local port.
func (c *Controller) forwardServices(ctx context.Context, d *appsv1.Deployment, ct corev1.Container, local map[int32]int) error {
	svcs, err := c.kube.CoreV1().Services(c.opts.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	named := map[string]int32{}
	for _, p := range ct.Ports {
		named[p.Name] = p.ContainerPort
	}
	podLabels := d.Spec.Template.Labels
	for _, s := range svcs.Items {
		if len(s.Spec.Selector) == 0 || s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone || !selects(s.Spec.Selector, podLabels) {
			continue
		}
		ip := net.ParseIP(s.Spec.ClusterIP)
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("service %s has ClusterIP %s outside 127.0.0.0/8: the cluster's Service range must be loopback", s.Name, s.Spec.ClusterIP)
		}
		for _, sp := range s.Spec.Ports {
			lp, ok := local[containerPort(sp, named)]
			if !ok {
				continue
			}
			addr := net.JoinHostPort(s.Spec.ClusterIP, strconv.Itoa(int(sp.Port)))
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listening on service %s address %s: %w", s.Name, addr, err)
			}
			c.mu.Lock()
			c.listeners = append(c.listeners, l)
			c.mu.Unlock()
			c.Services[fmt.Sprintf("%s:%d", s.Name, sp.Port)] = addr
			dst := loopback(lp)
			c.wg.Go(func() { forward(l, dst) })
		}
	}
	return nil
}

// containerPort is the container port a Service port targets: a named
// port of the container, a number, or the Service port itself.
func containerPort(sp corev1.ServicePort, named map[string]int32) int32 {
	target := sp.TargetPort
	switch {
	case target.Type == intstr.String:
		return named[target.StrVal]
	case target.IntVal != 0:
		return target.IntVal
	default:
		return sp.Port
	}
}

// selects reports whether a Service selector matches the pod labels.
func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// forward copies bytes between accepted connections and dst until l closes.
func forward(l net.Listener, dst string) {
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		// The copies below end the exchange; a close error after them has
		// no one to tell, so both closes are discarded.
		go func() {
			defer func() { _ = in.Close() }()
			out, err := net.DialTimeout("tcp", dst, 5*time.Second)
			if err != nil {
				return
			}
			defer func() { _ = out.Close() }()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); _ = out.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); _ = in.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}
