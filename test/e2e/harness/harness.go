// Package harness runs the controller binary on this machine in place of the
// chart's (kwok-simulated) pod, exactly as the installed Deployment
// configures it:
//
//   - the container's args and env from the Deployment object ($(VAR)
//     references expanded as the kubelet does);
//   - its Secret and ConfigMap volumes materialised into local directories
//     the way the kubelet writes them (a ..data symlink swapped atomically),
//     and rewritten whenever the object changes, so a cert-manager rotation
//     reaches the binary as it would in a pod;
//   - the chart's ServiceAccount identity through a TokenRequest token in a
//     kubeconfig, so the chart's RBAC is what the binary gets;
//   - the release's Services made reachable as kube-proxy would: the harness
//     listens on each Service's ClusterIP (127.0.1.x) and port and forwards to
//     the binary's local port.
//
// Every listener binds a 127.x address. The e2e suite and hack/run-in-cluster
// (make demo) share it.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
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

// volume is one Secret or ConfigMap volume mounted by the container.
type volume struct {
	name, mountPath, localDir string
	secret, configMap         string
	items                     []corev1.KeyToPath
	optional                  bool
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

	env, err := c.resolveEnv(ctx, deploy, container)
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
	args, localPorts, err := c.rewriteArgs(container, env, kubeconfig)
	if err != nil {
		return nil, err
	}
	c.Args = append(args, opts.ExtraArgs...)
	if !opts.NoServices {
		if err := c.forwardServices(ctx, deploy, container, localPorts); err != nil {
			return nil, err
		}
	}
	if err := c.startBinary(runCtx, env); err != nil {
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

// resolveEnv evaluates the container's env as the kubelet would, for a pod
// of this Deployment.
func (c *Controller) resolveEnv(ctx context.Context, d *appsv1.Deployment, ct corev1.Container) (map[string]string, error) {
	env := map[string]string{}
	podName := d.Name + "-local"
	for _, e := range ct.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expand(e.Value, env)
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.namespace":
				env[e.Name] = d.Namespace
			case "metadata.name":
				env[e.Name] = podName
			case "spec.serviceAccountName":
				env[e.Name] = d.Spec.Template.Spec.ServiceAccountName
			case "spec.nodeName":
				env[e.Name] = "local"
			case "status.podIP", "status.hostIP":
				env[e.Name] = "127.0.0.1"
			default:
				return nil, fmt.Errorf("env %s: fieldRef %q not supported by the harness", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err := resourceValue(ct, e.ValueFrom.ResourceFieldRef)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			env[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, err := c.kube.CoreV1().Secrets(d.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			env[e.Name] = string(s.Data[ref.Key])
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, err := c.kube.CoreV1().ConfigMaps(d.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			env[e.Name] = cm.Data[ref.Key]
		default:
			return nil, fmt.Errorf("env %s: valueFrom not supported by the harness", e.Name)
		}
	}
	return env, nil
}

// resourceValue is what the kubelet puts in a resourceFieldRef variable:
// the container's limit or request divided by the divisor, rounded up. An
// unset limit would be the node's allocatable; "0" here (no limit).
func resourceValue(ct corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	list := ct.Resources.Limits
	name, ok := strings.CutPrefix(ref.Resource, "limits.")
	if !ok {
		list = ct.Resources.Requests
		if name, ok = strings.CutPrefix(ref.Resource, "requests."); !ok {
			return "", fmt.Errorf("resourceFieldRef %q not supported by the harness", ref.Resource)
		}
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		return "0", nil
	}
	divisor := int64(1)
	if !ref.Divisor.IsZero() {
		divisor = ref.Divisor.Value()
	}
	return strconv.FormatInt((q.Value()+divisor-1)/divisor, 10), nil
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand replaces $(VAR) with env values, as the kubelet does for args.
func expand(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

func (c *Controller) setupVolumes(ctx, runCtx context.Context, pod corev1.PodSpec, ct corev1.Container) error {
	byName := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		byName[v.Name] = v
	}
	for _, m := range ct.VolumeMounts {
		v, ok := byName[m.Name]
		if !ok {
			return fmt.Errorf("volume %q is mounted but not defined", m.Name)
		}
		vol := &volume{name: m.Name, mountPath: m.MountPath, localDir: filepath.Join(c.opts.WorkDir, "volumes", m.Name)}
		switch {
		case v.Secret != nil:
			vol.secret, vol.items = v.Secret.SecretName, v.Secret.Items
			vol.optional = v.Secret.Optional != nil && *v.Secret.Optional
		case v.ConfigMap != nil:
			vol.configMap, vol.items = v.ConfigMap.Name, v.ConfigMap.Items
			vol.optional = v.ConfigMap.Optional != nil && *v.ConfigMap.Optional
		case v.EmptyDir != nil:
			if err := os.MkdirAll(vol.localDir, 0o700); err != nil {
				return err
			}
			c.volumes = append(c.volumes, vol)
			continue
		default:
			return fmt.Errorf("volume %q: only Secret, ConfigMap and emptyDir volumes are supported by the harness", m.Name)
		}
		if err := c.materialise(ctx, vol); err != nil {
			return err
		}
		c.volumes = append(c.volumes, vol)
		c.wg.Go(func() { c.watchVolume(runCtx, vol) })
	}
	return nil
}

// fetch returns the volume's files.
func (c *Controller) fetch(ctx context.Context, v *volume) (map[string][]byte, string, error) {
	data := map[string][]byte{}
	var rv string
	if v.secret != "" {
		s, err := c.kube.CoreV1().Secrets(c.opts.Namespace).Get(ctx, v.secret, metav1.GetOptions{})
		if err != nil {
			return nil, "", err
		}
		data, rv = s.Data, s.ResourceVersion
	} else {
		cm, err := c.kube.CoreV1().ConfigMaps(c.opts.Namespace).Get(ctx, v.configMap, metav1.GetOptions{})
		if err != nil {
			return nil, "", err
		}
		for k, val := range cm.Data {
			data[k] = []byte(val)
		}
		maps := cm.BinaryData
		for k, val := range maps {
			data[k] = val
		}
		rv = cm.ResourceVersion
	}
	if len(v.items) == 0 {
		return data, rv, nil
	}
	out := map[string][]byte{}
	for _, it := range v.items {
		val, ok := data[it.Key]
		if !ok {
			return nil, "", fmt.Errorf("volume %q: key %q not found", v.name, it.Key)
		}
		out[it.Path] = val
	}
	return out, rv, nil
}

func (c *Controller) materialise(ctx context.Context, v *volume) error {
	var files map[string][]byte
	err := waitFor(ctx, 60*time.Second, func() (bool, error) {
		var err error
		files, _, err = c.fetch(ctx, v)
		if err == nil {
			return true, nil
		}
		if v.optional {
			files = nil
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("volume %q: %w", v.name, err)
	}
	if err := writeAtomic(v.localDir, files); err != nil {
		return err
	}
	c.mu.Lock()
	c.writes[v.name]++
	c.mu.Unlock()
	return nil
}

// Writes reports how often the named volume was (re)written.
func (c *Controller) Writes(volume string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[volume]
}

// VolumeDir is where the named volume is materialised.
func (c *Controller) VolumeDir(volume string) string {
	for _, v := range c.volumes {
		if v.name == volume {
			return v.localDir
		}
	}
	return ""
}

// watchVolume rewrites the volume whenever its object changes.
func (c *Controller) watchVolume(ctx context.Context, v *volume) {
	name, list := v.secret, "secrets"
	if name == "" {
		name, list = v.configMap, "configmaps"
	}
	for ctx.Err() == nil {
		w, err := c.kube.CoreV1().RESTClient().Get().Namespace(c.opts.Namespace).Resource(list).
			VersionedParams(&metav1.ListOptions{Watch: true, FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()}, metav1.ParameterCodec).
			Watch(ctx)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		for range w.ResultChan() {
			if err := c.materialise(ctx, v); err != nil && ctx.Err() == nil {
				fmt.Fprintf(c.opts.Log, "harness: rewriting volume %s: %v\n", v.name, err)
			}
		}
		w.Stop()
	}
}

// writeAtomic writes files the way the kubelet's AtomicWriter does: into a
// fresh timestamped directory, then swaps the ..data symlink, then points
// the visible names at ..data/<name>.
func writeAtomic(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ts, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	for name, data := range files {
		p := filepath.Join(ts, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	for name := range files {
		top := strings.SplitN(name, "/", 2)[0]
		link := filepath.Join(dir, top)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", top), link); err != nil {
			return err
		}
	}
	if old != "" && old != filepath.Base(ts) {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// writeKubeconfig requests a token for the chart's ServiceAccount and writes
// a kubeconfig that uses it.
func (c *Controller) writeKubeconfig(ctx context.Context, sa string) (string, error) {
	ttl := int64(c.opts.TokenTTL.Seconds())
	tr, err := c.kube.CoreV1().ServiceAccounts(c.opts.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", c.opts.Namespace, sa, err)
	}
	c.Token = tr.Status.Token
	ca := c.opts.Config.CAData
	if len(ca) == 0 && c.opts.Config.CAFile != "" {
		if ca, err = os.ReadFile(c.opts.Config.CAFile); err != nil {
			return "", err
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: c.opts.Config.Host, CertificateAuthorityData: ca}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "sa", Namespace: c.opts.Namespace}
	cfg.CurrentContext = "sa"
	path := filepath.Join(c.opts.WorkDir, "serviceaccount.kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// rewriteArgs expands the container's args, points mount paths at the local
// directories and moves every listener to 127.0.0.1 on a free port. It
// returns the args and the container port -> local port map.
func (c *Controller) rewriteArgs(ct corev1.Container, env map[string]string, kubeconfig string) ([]string, map[int32]int, error) {
	ports := map[int32]int{}
	var args []string
	hasWebhookPort := false
	source := append(append([]string{}, ct.Command[min(len(ct.Command), 1):]...), ct.Args...)
	for _, a := range source {
		a = expand(a, env)
		for _, v := range c.volumes {
			a = strings.ReplaceAll(a, v.mountPath, v.localDir)
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !hasValue {
			args = append(args, a)
			continue
		}
		switch name {
		case "metrics-bind-address", "health-probe-bind-address":
			if value == "0" {
				args = append(args, a)
				continue
			}
			port, local, err := localFor(value)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", name, err)
			}
			ports[port] = local
			addr := fmt.Sprintf("127.0.0.1:%d", local)
			if name == "metrics-bind-address" {
				c.MetricsURL = "https://" + addr + "/metrics"
			} else {
				c.HealthURL = "http://" + addr
			}
			args = append(args, "--"+name+"="+addr)
		case "webhook-port":
			p, err := strconv.Atoi(value)
			if err != nil {
				return nil, nil, fmt.Errorf("webhook-port: %w", err)
			}
			local, err := freePort()
			if err != nil {
				return nil, nil, err
			}
			ports[int32(p)] = local
			hasWebhookPort = true
			args = append(args, fmt.Sprintf("--webhook-port=%d", local))
		case "webhook-host", "kubeconfig":
			// Replaced below.
		default:
			args = append(args, a)
		}
	}
	if !hasWebhookPort {
		// The binary's default webhook port.
		local, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		ports[9443] = local
		args = append(args, fmt.Sprintf("--webhook-port=%d", local))
	}
	if c.HealthURL == "" {
		local, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		ports[8081] = local
		c.HealthURL = fmt.Sprintf("http://127.0.0.1:%d", local)
		args = append(args, fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", local))
	}
	args = append(args, "--webhook-host=127.0.0.1", "--kubeconfig="+kubeconfig)
	return args, ports, nil
}

func localFor(bind string) (int32, int, error) {
	_, p, err := net.SplitHostPort(bind)
	if err != nil {
		return 0, 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return 0, 0, err
	}
	local, err := freePort()
	return int32(port), local, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

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
			target := sp.TargetPort
			var cport int32
			switch {
			case target.Type == intstr.String:
				cport = named[target.StrVal]
			case target.IntVal != 0:
				cport = target.IntVal
			default:
				cport = sp.Port
			}
			lp, ok := local[cport]
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
			dst := fmt.Sprintf("127.0.0.1:%d", lp)
			c.wg.Go(func() { forward(l, dst) })
		}
	}
	return nil
}

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
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp", dst, 5*time.Second)
			if err != nil {
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); _ = out.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); _ = in.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func (c *Controller) startBinary(ctx context.Context, env map[string]string) error {
	c.LogFile = filepath.Join(c.opts.WorkDir, "controller.log")
	logf, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.opts.Binary, c.Args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.opts.WorkDir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout = io.MultiWriter(logf, c.opts.Log)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", c.opts.Binary, err)
	}
	c.cmd = cmd
	go func() {
		c.waitErr = cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	return nil
}

func (c *Controller) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return waitFor(ctx, 60*time.Second, func() (bool, error) {
		select {
		case <-c.exited:
			return false, &stopError{fmt.Errorf("controller exited: %v (log: %s)", c.waitErr, c.LogFile)}
		default:
		}
		resp, err := client.Get(c.HealthURL + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// Exited is closed when the binary exits.
func (c *Controller) Exited() <-chan struct{} { return c.exited }

// Running reports whether the binary still runs.
func (c *Controller) Running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// PID is the binary's process id.
func (c *Controller) PID() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Kill ends the binary with SIGKILL (no drain, no last checkpoint, as a
// node failure or an OOM kill would) and closes the forwarders and watches.
func (c *Controller) Kill() error {
	if c.cmd != nil && c.cmd.Process != nil {
		select {
		case <-c.exited:
		default:
			if err := c.cmd.Process.Kill(); err != nil {
				return err
			}
			<-c.exited
		}
	}
	return c.Stop()
}

// PeakRSS is the binary's peak resident set size (VmHWM) in bytes while it
// runs.
func (c *Controller) PeakRSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.PID()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// Stop terminates the binary (SIGTERM, then SIGKILL after 60s) and closes
// the forwarders and watches.
func (c *Controller) Stop() error {
	var err error
	if c.cmd != nil && c.cmd.Process != nil {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.exited:
			case <-time.After(60 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.exited
				err = errors.New("controller did not stop within 60s of SIGTERM")
			}
		}
	}
	c.cancel()
	c.mu.Lock()
	for _, l := range c.listeners {
		_ = l.Close()
	}
	c.listeners = nil
	c.mu.Unlock()
	c.wg.Wait()
	return err
}

func waitFor(ctx context.Context, timeout time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := f()
		if ok {
			return nil
		}
		if err != nil {
			last = err
			var stop *stopError
			if errors.As(err, &stop) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return last
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type stopError struct{ error }

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
