package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// The apiserver refuses loopback Endpoints, so no EndpointSlice names a pod
// of the real node and no kube-proxy could use one. serviceForwarder reads
// Services and pods itself: it listens on a Service's ClusterIP:port while
// at least one ready hostNetwork pod on the real node backs it (the only
// pods reachable from the host: the others' network namespaces have only
// lo) and forwards each connection to such a pod's target port on its pod
// IP (127.0.0.1). Without a backend nothing listens, as kube-proxy rejects
// connections then; that also leaves the ClusterIPs of Services whose pods
// are on kwok to whoever stands in for them (the e2e harness).

// serviceForwarder keeps one listener per forwarded ClusterIP:port.
type serviceForwarder struct {
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	next     atomic.Uint64 // spreads connections over backends

	mu        sync.Mutex
	listeners map[string]context.CancelFunc
	wg        sync.WaitGroup
}

// forwardServices runs a serviceForwarder with kubeconfig until ctx ends.
func forwardServices(ctx context.Context, kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return runServiceForwarder(ctx, kube, 5*time.Second)
}

// runServiceForwarder reconciles the listeners on every Service or pod
// change, and every resync to retry addresses that were busy.
func runServiceForwarder(ctx context.Context, kube kubernetes.Interface, resync time.Duration) error {
	svcFactory := informers.NewSharedInformerFactory(kube, 0)
	// Only the real node's pods can be backends; kwok may hold thousands.
	podFactory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "spec.nodeName=" + realNodeName
	}))
	f := &serviceForwarder{
		services:  svcFactory.Core().V1().Services().Lister(),
		pods:      podFactory.Core().V1().Pods().Lister(),
		listeners: map[string]context.CancelFunc{},
	}
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	if _, err := svcFactory.Core().V1().Services().Informer().AddEventHandler(h); err != nil {
		return err
	}
	if _, err := podFactory.Core().V1().Pods().Informer().AddEventHandler(h); err != nil {
		return err
	}
	svcFactory.Start(ctx.Done())
	podFactory.Start(ctx.Done())
	defer svcFactory.Shutdown()
	defer podFactory.Shutdown()
	svcFactory.WaitForCacheSync(ctx.Done())
	podFactory.WaitForCacheSync(ctx.Done())
	tick := time.NewTicker(resync)
	defer tick.Stop()
	for {
		f.reconcile(ctx)
		select {
		case <-ctx.Done():
			f.stopAll()
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

// servicePort is one forwarded port of a Service.
type servicePort struct {
	namespace, name string
	port            int32
}

// desired returns the ClusterIP:port addresses to forward now.
func (f *serviceForwarder) desired() (map[string]servicePort, error) {
	svcs, err := f.services.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	want := map[string]servicePort{}
	for _, svc := range svcs {
		ip := svc.Spec.ClusterIP
		if len(svc.Spec.Selector) == 0 || ip == "" || ip == corev1.ClusterIPNone {
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			if len(f.backends(svc, p)) == 0 {
				continue
			}
			want[net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))] = servicePort{svc.Namespace, svc.Name, p.Port}
		}
	}
	return want, nil
}

// backends are the addresses (pod IP and target port) of port of svc on the
// ready hostNetwork pods of the real node it selects. A pod without the
// named target port is no backend, as the EndpointSlice controller skips it
// (the chart's `helm test` pod carries the Service's selector labels).
func (f *serviceForwarder) backends(svc *corev1.Service, port corev1.ServicePort) []string {
	pods, err := f.pods.Pods(svc.Namespace).List(labels.SelectorFromSet(svc.Spec.Selector))
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range pods {
		if p.Spec.NodeName != realNodeName || !p.Spec.HostNetwork || p.DeletionTimestamp != nil ||
			p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			continue
		}
		if !svc.Spec.PublishNotReadyAddresses && !podReady(p) {
			continue
		}
		tp, err := targetPort(port, p)
		if err != nil {
			continue
		}
		out = append(out, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(tp))))
	}
	slices.Sort(out)
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// target returns the pod address a new connection to sp goes to.
func (f *serviceForwarder) target(sp servicePort) (string, error) {
	svc, err := f.services.Services(sp.namespace).Get(sp.name)
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == sp.port })
	if i < 0 {
		return "", fmt.Errorf("service %s/%s has no port %d", sp.namespace, sp.name, sp.port)
	}
	backends := f.backends(svc, svc.Spec.Ports[i])
	if len(backends) == 0 {
		return "", fmt.Errorf("service %s/%s has no ready hostNetwork pod on the real node", sp.namespace, sp.name)
	}
	return backends[int(f.next.Add(1)%uint64(len(backends)))], nil
}

// targetPort resolves a Service port's targetPort (a number, a container
// port name, or empty for the Service port) on pod.
func targetPort(sp corev1.ServicePort, pod *corev1.Pod) (int32, error) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == tp.StrVal {
					return p.ContainerPort, nil
				}
			}
		}
		return 0, fmt.Errorf("pod %s/%s has no container port named %q", pod.Namespace, pod.Name, tp.StrVal)
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, nil
	}
	return sp.Port, nil
}

// reconcile opens the listeners that are wanted and closes the others. An
// address another process holds is retried on the next resync.
func (f *serviceForwarder) reconcile(ctx context.Context) {
	want, err := f.desired()
	if err != nil {
		fmt.Fprintf(os.Stderr, "Listing Services failed: %v\n", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr, stop := range f.listeners {
		if _, ok := want[addr]; !ok {
			stop()
			delete(f.listeners, addr)
			fmt.Printf("Stopped forwarding %s\n", addr)
		}
	}
	for addr, sp := range want {
		if _, ok := f.listeners[addr]; ok {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "Listening on %s for Service %s/%s failed (retrying): %v\n", addr, sp.namespace, sp.name, err)
			continue
		}
		lctx, stop := context.WithCancel(ctx)
		f.listeners[addr] = stop
		fmt.Printf("Forwarding %s (Service %s/%s) to its hostNetwork pods\n", addr, sp.namespace, sp.name)
		f.wg.Go(func() {
			if err := forward(lctx, l, func() (string, error) { return f.target(sp) }); err != nil && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(os.Stderr, "Forwarding %s ended: %v\n", addr, err)
			}
		})
	}
}

// stopAll closes every listener and waits for their connections to end.
func (f *serviceForwarder) stopAll() {
	f.mu.Lock()
	for addr, stop := range f.listeners {
		stop()
		delete(f.listeners, addr)
	}
	f.mu.Unlock()
	f.wg.Wait()
}
