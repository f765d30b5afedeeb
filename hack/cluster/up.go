package main

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

type cluster struct {
	dir, bin        string
	certManagerCRDs string

	pki        *pki
	kubeconfig string
	cfg        *rest.Config
	kube       kubernetes.Interface
	procs      []process
}

func (c *cluster) binary(name string) (string, error) {
	p := filepath.Join(c.bin, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found in %s: run `hack/build-tool.sh %s` (or `make cluster-up`, which builds it)", name, c.bin, name)
	}
	return p, nil
}

func (c *cluster) start(name, bin string, args ...string) error {
	p, err := startProcess(c.dir, name, bin, args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, *p)
	return nil
}

func (c *cluster) up(ctx context.Context) error {
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if running, err := c.reuse(ctx); err != nil {
		return err
	} else if running {
		fmt.Printf("cluster: already running (%s)\n", c.kubeconfig)
		c.printUsage()
		return nil
	}
	t := newStageTimer()
	for _, bin := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl", "kubelet"} {
		if _, err := c.binary(bin); err != nil {
			return err
		}
	}
	if err := checkNodeHost(); err != nil {
		return err
	}
	// A fresh state: old etcd data, PIDs and kubeconfig go; logs are
	// truncated per component.
	for _, sub := range []string{"etcd", "pids", "pki", "kwok", "kubeconfig", "node"} {
		if err := os.RemoveAll(filepath.Join(c.dir, sub)); err != nil {
			return err
		}
	}
	for _, sub := range []string{"pids", "logs", "kwok", "pod-logs"} {
		if err := os.MkdirAll(filepath.Join(c.dir, sub), 0o700); err != nil {
			return err
		}
	}
	var err error
	if c.pki, err = newPKI(filepath.Join(c.dir, "pki"), net.ParseIP(serviceIP)); err != nil {
		return err
	}
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort, kwokPort, kubeletPort, kubeletHealthz := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	t.done("certificates and ports")

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := c.start("etcd", filepath.Join(c.bin, "etcd"),
		"--name=local", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=local="+peerURL,
		"--unsafe-no-fsync=true", "--log-level=warn"); err != nil {
		return err
	}
	p := c.pki.path
	if err := c.start("kube-apiserver", filepath.Join(c.bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--service-cluster-ip-range="+serviceCIDR,
		// The kubernetes Service would get a loopback endpoint, which the
		// API rejects; nothing in this cluster needs it.
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(c.dir, "pki"),
		"--tls-cert-file="+p("apiserver.crt"), "--tls-private-key-file="+p("apiserver.key"),
		"--client-ca-file="+p("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p("sa.pub"), "--service-account-signing-key-file="+p("sa.key"),
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--kubelet-client-certificate="+p("admin.crt"), "--kubelet-client-key="+p("admin.key"),
		"--kubelet-certificate-authority="+p("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--v=0"); err != nil {
		return err
	}
	if err := c.writeKubeconfig(apiPort); err != nil {
		return err
	}
	if err := c.waitAPIServer(ctx); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := c.start("service-proxy", self, "service-proxy", fmt.Sprintf("--target=127.0.0.1:%d", apiPort), "--kubeconfig="+c.kubeconfig); err != nil {
		return err
	}
	t.done("etcd + kube-apiserver ready, Services forwarded")

	kc := "--kubeconfig=" + c.kubeconfig
	if err := c.start("kube-controller-manager", filepath.Join(c.bin, "kube-controller-manager"),
		kc, "--authentication-kubeconfig="+c.kubeconfig, "--authorization-kubeconfig="+c.kubeconfig,
		"--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false",
		"--service-account-private-key-file="+p("sa.key"), "--root-ca-file="+p("ca.crt"),
		// Else it creates /usr/libexec/kubernetes on the host.
		"--flex-volume-plugin-dir="+filepath.Join(nodeDir(c.dir), "volume-plugins"),
		"--controllers=*,-kube-apiserver-serving-clustertrustbundle-publisher-controller"); err != nil {
		return err
	}
	if err := c.start("kube-scheduler", filepath.Join(c.bin, "kube-scheduler"),
		kc, "--authentication-kubeconfig="+c.kubeconfig, "--authorization-kubeconfig="+c.kubeconfig,
		"--leader-elect=false", "--secure-port=0"); err != nil {
		return err
	}
	if err := c.startRealNode(ctx, kubeletPort, kubeletHealthz); err != nil {
		return err
	}
	kwokConfigs, err := c.writeKwokConfig()
	if err != nil {
		return err
	}
	if err := c.createNode(ctx); err != nil {
		return err
	}
	if err := c.start("kwok", filepath.Join(c.bin, "kwok"),
		kc, "--config="+strings.Join(kwokConfigs, ","),
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=127.0.2.1/24", "--node-ip=127.0.0.1",
		fmt.Sprintf("--node-port=%d", kwokPort), fmt.Sprintf("--server-address=127.0.0.1:%d", kwokPort),
		"--tls-cert-file="+p("kwok.crt"), "--tls-private-key-file="+p("kwok.key"),
		"--node-lease-duration-seconds=40"); err != nil {
		return err
	}
	if err := c.applyCertManagerCRDs(ctx); err != nil {
		return err
	}
	if err := c.start("cert-manager", self, "cert-manager", kc); err != nil {
		return err
	}
	t.done("controllers, scheduler, kwok, cert-manager started")

	if err := c.waitReady(ctx); err != nil {
		return err
	}
	t.done("kwok node Ready, default ServiceAccount")
	if err := c.waitRealNode(ctx); err != nil {
		return err
	}
	t.done("real node Ready (kubelet, containerd, runc)")
	if err := c.checkCertManager(ctx); err != nil {
		return err
	}
	t.done("cert-manager issued a test certificate")
	if err := checkLoopback(c.procs); err != nil {
		return err
	}
	for _, pr := range c.procs {
		if !pr.alive() {
			return fmt.Errorf("%s exited; see %s", pr.Name, filepath.Join(c.dir, "logs", pr.Name+".log"))
		}
	}
	fmt.Printf("cluster: up in %.1fs; every listening socket is on 127.0.0.1\n", time.Since(t.start).Seconds())
	c.printUsage()
	return nil
}

func (c *cluster) printUsage() {
	fmt.Printf(`cluster: use it with
  export KUBECONFIG=%s
  bin/kubectl get nodes
cluster: real node %s (kubelet + containerd + runc; pods have only lo; images %s, %s and %s, imagePullPolicy: Never)
cluster: Service range %s, pod range %s, node %s (kwok, tainted %s:NoSchedule: pods "run" without running
         anything; label a pod crashloop.kwok.dot-ai.io/enabled=true to make it crash-loop; its logs come from %s)
cluster: stop it with: make cluster-down
`, c.kubeconfig, realNodeName, pauseImage, workloadImage, kubectlImage, serviceCIDR, podCIDR, nodeName, kwokTaintKey, filepath.Join(c.dir, "pod-logs"))
}

// reuse reports whether a complete cluster from an earlier `up` still runs.
// A partial one is stopped so `up` can start over.
func (c *cluster) reuse(ctx context.Context) (bool, error) {
	procs, err := readProcesses(c.dir)
	if err != nil || len(procs) == 0 {
		return false, err
	}
	healthy := len(procs) == len(componentOrder)
	for _, p := range procs {
		healthy = healthy && p.alive()
	}
	if healthy {
		cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
		if err == nil {
			c.cfg = cfg
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := c.waitAPIServer(cctx); err == nil {
				c.procs = procs
				return true, checkLoopback(procs)
			}
		}
	}
	fmt.Println("cluster: found a partial cluster; stopping it")
	return false, stopAll(c.dir)
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func (c *cluster) writeKubeconfig(port int) error {
	read := func(name string) ([]byte, error) { return os.ReadFile(c.pki.path(name)) }
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	cert, err := read("admin.crt")
	if err != nil {
		return err
	}
	key, err := read("admin.key")
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: fmt.Sprintf("https://127.0.0.1:%d", port), CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "local"
	if err := clientcmd.WriteToFile(*cfg, c.kubeconfig); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return err
	}
	rc.UserAgent = "dot-ai-local-cluster"
	rc.QPS, rc.Burst = 50, 100
	c.cfg = rc
	c.kube, err = kubernetes.NewForConfig(rc)
	return err
}

// poll calls f every interval until it returns true, an error, or the
// timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, f func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := f(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("timed out waiting for %s: %w", what, last)
			}
			return fmt.Errorf("timed out waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *cluster) waitAPIServer(ctx context.Context) error {
	kube, err := kubernetes.NewForConfig(c.cfg)
	if err != nil {
		return err
	}
	c.kube = kube
	return poll(ctx, 90*time.Second, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		for _, pr := range c.procs {
			if !pr.alive() {
				return false, fmt.Errorf("%s exited; see %s", pr.Name, filepath.Join(c.dir, "logs", pr.Name+".log"))
			}
		}
		body, err := kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", err
	})
}

// writeKwokConfig writes the embedded stages and a ClusterLogs that serves
// every container's logs from pod-logs/, and returns the config files.
func (c *cluster) writeKwokConfig() ([]string, error) {
	var files []string
	err := fs.WalkDir(kwokStages, "kwok", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := kwokStages.ReadFile(path)
		if err != nil {
			return err
		}
		out := filepath.Join(c.dir, "kwok", filepath.Base(path))
		files = append(files, out)
		return os.WriteFile(out, data, 0o600)
	})
	if err != nil {
		return nil, err
	}
	current := filepath.Join(c.dir, "pod-logs", "current.log")
	previous := filepath.Join(c.dir, "pod-logs", "previous.log")
	now := time.Now().UTC()
	if err := os.WriteFile(previous, []byte(criLog(now.Add(-20*time.Second),
		"starting checkout-api version=1.4.2",
		"connecting to database at 127.0.0.1:5432",
		"panic: dial tcp 127.0.0.1:5432: connect: connection refused",
	)), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(current, []byte(criLog(now,
		"starting checkout-api version=1.4.2",
		"connecting to database at 127.0.0.1:5432",
	)), 0o600); err != nil {
		return nil, err
	}
	logs := fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: all-pods
spec:
  selector: {}
  logs:
  - logsFile: %q
    previousLogsFile: %q
    follow: false
`, current, previous)
	out := filepath.Join(c.dir, "kwok", "cluster-logs.yaml")
	files = append(files, out)
	return files, os.WriteFile(out, []byte(logs), 0o600)
}

// criLog formats lines the way the kubelet stores container logs.
func criLog(t time.Time, lines ...string) string {
	var b strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&b, "%s stderr F %s\n", t.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), l)
	}
	return b.String()
}

func (c *cluster) createNode(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: nodeName,
			Annotations: map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
			Labels: map[string]string{
				"kubernetes.io/hostname": nodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"kubernetes.io/role":     "agent",
				"type":                   "kwok",
			},
		},
		Spec: corev1.NodeSpec{
			PodCIDR: podCIDR, PodCIDRs: []string{podCIDR},
			// Pods go to the real node unless they choose kwok on purpose
			// (toleration + nodeSelector type=kwok).
			Taints: []corev1.Taint{{Key: kwokTaintKey, Value: "fake", Effect: corev1.TaintEffectNoSchedule}},
		},
	}
	_, err := c.kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (c *cluster) applyCertManagerCRDs(ctx context.Context) error {
	dir := c.certManagerCRDs
	if dir == "" {
		cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager")
		cmd.Dir = moduleDir()
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("locating the cert-manager module (pass --cert-manager-crds): %w", err)
		}
		dir = filepath.Join(strings.TrimSpace(string(out)), "deploy", "crds")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"), "--kubeconfig="+c.kubeconfig,
		"apply", "--server-side", "--field-manager=local-cluster", "-f", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("applying cert-manager CRDs: %v\n%s", err, out)
	}
	return poll(ctx, 30*time.Second, "cert-manager CRDs", func(context.Context) (bool, error) {
		res, err := c.kube.Discovery().ServerResourcesForGroupVersion("cert-manager.io/v1")
		if err != nil {
			return false, err
		}
		return len(res.APIResources) >= 4, nil
	})
}

// moduleDir is this program's module directory when run from the
// repository (make runs it from the root).
func moduleDir() string {
	for _, d := range []string{"hack/cluster", "."} {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(data), "module dot-ai.io/controller/hack/cluster") {
				return d
			}
		}
	}
	return "hack/cluster"
}

func (c *cluster) waitReady(ctx context.Context) error {
	if err := poll(ctx, 60*time.Second, "node "+nodeName+" Ready", func(ctx context.Context) (bool, error) {
		n, err := c.kube.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return len(n.Status.Addresses) > 0, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	return poll(ctx, 60*time.Second, "the default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := c.kube.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, client404(err)
	})
}

func client404(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// checkCertManager issues a certificate from a SelfSigned Issuer in a
// throw-away namespace, proving cert-manager's controllers work.
func (c *cluster) checkCertManager(ctx context.Context) error {
	const ns = "local-cluster-check"
	dyn, err := dynamic.NewForConfig(c.cfg)
	if err != nil {
		return err
	}
	if _, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	issuers := dyn.Resource(schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "issuers"}).Namespace(ns)
	certs := dyn.Resource(schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}).Namespace(ns)
	issuer := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
		"metadata": map[string]any{"name": "selfsigned"},
		"spec":     map[string]any{"selfSigned": map[string]any{}},
	}}
	cert := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": map[string]any{"name": "check"},
		"spec": map[string]any{
			"secretName": "check-tls", "dnsNames": []any{"check." + ns + ".svc"},
			"issuerRef": map[string]any{"name": "selfsigned", "kind": "Issuer"},
		},
	}}
	// Just after the CRDs are established the API can still answer 404
	// for a moment.
	if err := poll(ctx, 30*time.Second, "creating a test Issuer and Certificate", func(ctx context.Context) (bool, error) {
		if _, err := issuers.Create(ctx, issuer, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return false, err
		}
		if _, err := certs.Create(ctx, cert, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return false, err
		}
		return true, nil
	}); err != nil {
		return err
	}
	if err := poll(ctx, 60*time.Second, "cert-manager to issue a test certificate (see logs/cert-manager.log)", func(ctx context.Context) (bool, error) {
		s, err := c.kube.CoreV1().Secrets(ns).Get(ctx, "check-tls", metav1.GetOptions{})
		if err != nil {
			return false, client404(err)
		}
		return len(s.Data["tls.crt"]) > 0, nil
	}); err != nil {
		return err
	}
	return c.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
}
