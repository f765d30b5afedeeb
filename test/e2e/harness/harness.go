// Package harness runs the controller binary on this machine in place of the
// chart's (kwok-simulated) pod, exactly as the installed Deployment
// configures it:
//
//   - the container's args and env from the Deployment object ($(VAR)
//     references expanded as the kubelet does; env.go, args.go);
//   - its Secret and ConfigMap volumes materialised into local directories
//     the way the kubelet writes them (a ..data symlink swapped atomically),
//     and rewritten whenever the object changes, so a cert-manager rotation
//     reaches the binary as it would in a pod (volumes.go);
//   - the chart's ServiceAccount identity through a TokenRequest token in a
//     kubeconfig, so the chart's RBAC is what the binary gets (kubeconfig.go);
//   - the release's Services made reachable as kube-proxy would: the harness
//     listens on each Service's ClusterIP (127.0.1.x) and port and forwards to
//     the binary's local port (services.go).
//
// process.go starts, kills and stops the child process; sockets.go checks
// it stays on loopback. Every listener binds a 127.x address. The e2e suite
// and hack/run-in-cluster (make demo) share it.
package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Options say which release to run and where.
type Options struct {
	// Config is an admin client configuration of the cluster.
	Config *rest.Config
	// Namespace and Release identify the installed chart.
	Namespace, Release string
	// Binary is the controller binary (bin/dot-ai-controller).
	Binary string
	// WorkDir receives the materialised volumes, the kubeconfig and the log.
	WorkDir string
	// Log receives the binary's output besides WorkDir/controller.log.
	Log io.Writer
	// ExtraArgs are appended to the Deployment's args.
	ExtraArgs []string
	// TokenTTL is the ServiceAccount token lifetime (default 1h).
	TokenTTL time.Duration
	// NoServices leaves the release's Service addresses alone: a second
	// replica runs beside the first without taking its ClusterIPs.
	NoServices bool
}

// Controller is the running binary.
type Controller struct {
	// HealthURL, MetricsURL are the binary's local endpoints
	// (MetricsURL is empty when metrics are off).
	HealthURL, MetricsURL string
	// Token is the chart ServiceAccount's token (it may scrape metrics).
	Token string
	// Services maps "<service>:<port>" to the ClusterIP address forwarded.
	Services map[string]string
	// Args are the arguments the binary was started with.
	Args []string
	// LogFile is the binary's output.
	LogFile string

	opts    Options
	kube    kubernetes.Interface
	volumes []*volume
	cancel  context.CancelFunc
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error

	mu        sync.Mutex
	listeners []net.Listener
	writes    map[string]int
	wg        sync.WaitGroup
}

// Start materialises the Deployment's configuration and starts the binary.
// It returns once /readyz answers 200.
func Start(ctx context.Context, opts Options) (*Controller, error) {
	if opts.TokenTTL == 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	kube, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.WorkDir, 0o700); err != nil {
		return nil, err
	}
	deploy, err := findDeployment(ctx, kube, opts.Namespace, opts.Release)
	if err != nil {
		return nil, err
	}
	pod := deploy.Spec.Template.Spec
	container := pod.Containers[0]
	for _, c := range pod.Containers {
		if c.Name == "manager" {
			container = c
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c := &Controller{opts: opts, kube: kube, cancel: cancel, exited: make(chan struct{}), writes: map[string]int{}, Services: map[string]string{}}
	ok := false
	defer func() {
		if !ok {
			_ = c.Stop()
		}
	}()

	env, err := resolveEnv(ctx, kube, deploy, container)
	if err != nil {
		return nil, err
	}
	if err := c.setupVolumes(ctx, runCtx, pod, container); err != nil {
		return nil, err
	}
	saName := pod.ServiceAccountName
	if saName == "" {
		saName = "default"
	}
	kubeconfig, err := c.writeKubeconfig(ctx, saName)
	if err != nil {
		return nil, err
	}
	local, err := rewriteArgs(containerArgs(container), env, c.mounts(), kubeconfig, freePort)
	if err != nil {
		return nil, err
	}
	c.HealthURL, c.MetricsURL = local.healthURL, local.metricsURL
	c.Args = slices.Concat(local.args, opts.ExtraArgs)
	if !opts.NoServices {
		if err := c.forwardServices(ctx, deploy, container, local.ports); err != nil {
			return nil, err
		}
	}
	if err := c.startBinary(env); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

func findDeployment(ctx context.Context, kube kubernetes.Interface, ns, release string) (*appsv1.Deployment, error) {
	list, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + release + ",app.kubernetes.io/component=controller",
	})
	if err != nil {
		return nil, fmt.Errorf("listing the release's Deployments: %w", err)
	}
	if len(list.Items) != 1 {
		return nil, fmt.Errorf("want exactly one controller Deployment of release %q in %q, found %d", release, ns, len(list.Items))
	}
	return &list.Items[0], nil
}
