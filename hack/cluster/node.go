package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The real node: a kubelet on Debian's containerd and runc. It registers as
// "127.0.0.1": the kubelet refuses --node-ip=127.0.0.1 but takes an
// IP-literal hostname as the node's InternalIP, which is where the apiserver
// dials it for logs and exec.
const (
	realNodeName = "127.0.0.1"
	// kwokTaint keeps pods off the kwok node unless they tolerate it on purpose.
	kwokTaintKey = "kwok.x-k8s.io/node"
	// clusterDNS is in the Service range; nothing serves it.
	clusterDNS = "127.0.1.10"
)

// Debian packages (make node-packages) the real node runs on.
var nodeHostBinaries = map[string]string{
	"containerd": "/usr/bin/containerd",
	"ctr":        "/usr/bin/ctr",
	"runc":       "/usr/sbin/runc",
	"loopback":   "/usr/lib/cni/loopback",
}

// nodeDir holds everything of the real node; `down` unmounts and removes it.
func nodeDir(dir string) string { return filepath.Join(dir, "node") }

func containerdSocket(dir string) string {
	return filepath.Join(nodeDir(dir), "run", "containerd.sock")
}

func checkNodeHost() error {
	var missing []string
	for _, p := range nodeHostBinaries {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the real node needs Debian's containerd, runc and containernetworking-plugins (missing %s): run `make node-packages`", strings.Join(missing, ", "))
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the real node's kubelet and containerd run as root")
	}
	return nil
}

// startRealNode starts containerd, imports the test images and starts the
// kubelet; the caller waits for the Node to be Ready.
func (c *cluster) startRealNode(ctx context.Context, kubeletPort, healthzPort int) error {
	if err := checkNodeHost(); err != nil {
		return err
	}
	kubelet, err := c.binary("kubelet")
	if err != nil {
		return err
	}
	nd := nodeDir(c.dir)
	for _, sub := range []string{"run", "cni/bin", "cni/net.d", "kubelet", "pod-logs", "volume-plugins", "images"} {
		if err := os.MkdirAll(filepath.Join(nd, sub), 0o700); err != nil {
			return err
		}
	}
	if err := recordHostState(c.dir); err != nil {
		return err
	}
	if err := c.writeNodeConfig(kubeletPort, healthzPort); err != nil {
		return err
	}
	if err := c.start("containerd", nodeHostBinaries["containerd"], "--config", filepath.Join(nd, "containerd.toml")); err != nil {
		return err
	}
	if err := poll(ctx, 30*time.Second, "containerd", func(ctx context.Context) (bool, error) {
		_, err := c.ctr(ctx, "version")
		return err == nil, err
	}); err != nil {
		return err
	}
	if err := c.importWorkloadImages(ctx); err != nil {
		return err
	}
	return c.start("kubelet", kubelet,
		"--config="+filepath.Join(nd, "kubelet.yaml"),
		"--kubeconfig="+filepath.Join(nd, "kubelet.kubeconfig"),
		"--root-dir="+filepath.Join(nd, "kubelet"),
		"--cert-dir="+filepath.Join(nd, "kubelet", "pki"),
		"--hostname-override="+realNodeName,
		"--v=2")
}

// ctr runs Debian's ctr against this cluster's containerd, in the CRI's
// namespace.
func (c *cluster) ctr(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, nodeHostBinaries["ctr"], append([]string{"--address", containerdSocket(c.dir), "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// deleteTasks kills and deletes every container task through containerd,
// so each shim cleans up (its socket, runc's state) and exits. `down` runs it
// once the kubelet is stopped and before containerd is; what it misses,
// stopContainers kills.
func deleteTasks(dir string) {
	c := &cluster{dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.ctr(ctx, "tasks", "ls", "--quiet")
	if err != nil {
		return
	}
	ids := strings.Fields(string(out))
	for _, id := range ids {
		_, _ = c.ctr(ctx, "tasks", "kill", "--all", "--signal", "SIGKILL", id)
	}
	for _, id := range ids {
		// A task is deletable once its processes have exited.
		_ = poll(ctx, 10*time.Second, "task "+id, func(ctx context.Context) (bool, error) {
			_, err := c.ctr(ctx, "tasks", "delete", id)
			return err == nil || strings.Contains(err.Error(), "not found"), err
		})
	}
}

// importImage imports an OCI tarball into the node's containerd.
func (c *cluster) importImage(ctx context.Context, tarPath string) error {
	_, err := c.ctr(ctx, "images", "import", tarPath)
	return err
}

// importWorkloadImages builds hack/cluster/workload statically and imports
// the sandbox (pause) and workload images made from it, and the kubectl
// image made from bin/kubectl.
func (c *cluster) importWorkloadImages(ctx context.Context) error {
	imgDir := filepath.Join(nodeDir(c.dir), "images")
	bin := filepath.Join(imgDir, "workload")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./workload")
	cmd.Dir = moduleDir()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the workload binary: %w\n%s", err, out)
	}
	data, err := staticBinary(bin)
	if err != nil {
		return err
	}
	kubectl, err := os.ReadFile(filepath.Join(c.bin, "kubectl"))
	if err != nil {
		return err
	}
	libs, err := elfLibraries(kubectl)
	if err != nil {
		return fmt.Errorf("bin/kubectl: %w", err)
	}
	for _, spec := range append(workloadImageSpecs(data), kubectlImageSpec(kubectl, libs)) {
		out := filepath.Join(imgDir, imageFileName(spec.ref))
		if err := writeImage(spec, out); err != nil {
			return err
		}
		if err := c.importImage(ctx, out); err != nil {
			return err
		}
	}
	return nil
}

// imageFileName is the tarball name of an image reference.
func imageFileName(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref) + ".tar"
}

// writeNodeConfig writes containerd's config, the CNI config and plugins,
// the kubelet's config, kubeconfig and serving certificate.
func (c *cluster) writeNodeConfig(kubeletPort, healthzPort int) error {
	nd := nodeDir(c.dir)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	links := map[string]string{
		filepath.Join(nd, "cni", "bin", "loopback"): nodeHostBinaries["loopback"],
		filepath.Join(nd, "cni", "bin", "lo-eth0"):  self,
	}
	for link, target := range links {
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	files := map[string]string{
		"containerd.toml":          containerdConfig(nd),
		"cni/net.d/10-lo.conflist": `{"cniVersion":"0.4.0","name":"lo-only","plugins":[{"type":"loopback"},{"type":"lo-eth0"}]}` + "\n",
		"kubelet.yaml":             kubeletConfig(nd, c.pki.path, kubeletPort, healthzPort),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(nd, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	return c.writeNodeKubeconfig(filepath.Join(nd, "kubelet.kubeconfig"))
}

// writeNodeKubeconfig gives the kubelet its own identity (system:node:…,
// group system:nodes), so the Node authorizer limits it as in a real cluster.
func (c *cluster) writeNodeKubeconfig(path string) error {
	cfg, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(c.pki.path("kubelet-client.crt"))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(c.pki.path("kubelet-client.key"))
	if err != nil {
		return err
	}
	cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{"node": {ClientCertificateData: cert, ClientKeyData: key}}
	cfg.Contexts["local"].AuthInfo = "node"
	return clientcmd.WriteToFile(*cfg, path)
}

// containerdConfig is Debian containerd 1.6's config with every path under
// nd and the CRI's streaming server on 127.0.0.1 (port chosen by the kernel).
// restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE. The sandbox image
// is imported, never pulled.
func containerdConfig(nd string) string {
	return strings.ReplaceAll(`version = 2
root = "@/containerd/root"
state = "@/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "@/run/containerd.sock"
[ttrpc]
  address = "@/run/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "@/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "`+pauseImage+`"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "`+nodeHostBinaries["runc"]+`"
        Root = "@/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "@/cni/bin"
    conf_dir = "@/cni/net.d"
`, "@", nd)
}

// kubeletConfig: cgroup v1 allowed (this host is v1), cgroupfs (no
// systemd), serving on 127.0.0.1 with a certificate from the cluster CA,
// logs and plugins under nd (not /var/log/pods, /usr/libexec/kubernetes),
// oomScoreAdj 0 (no CAP_SYS_RESOURCE), imported images never collected.
func kubeletConfig(nd string, pki func(string) string, port, healthzPort int) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%[1]s/run/containerd.sock
address: 127.0.0.1
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
tlsCertFile: %[4]s
tlsPrivateKeyFile: %[5]s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[6]s}
authorization: {mode: AlwaysAllow}
podLogsDir: %[1]s/pod-logs
volumePluginDir: %[1]s/volume-plugins
failSwapOn: false
oomScoreAdj: 0
resolvConf: ""
# No DNS server runs; a Service-range address keeps the kubelet from posting
# MissingClusterDNS Warning Events for every pod.
clusterDNS: [%[7]s]
clusterDomain: cluster.local
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
maxPods: 30
registerNode: true
nodeStatusReportFrequency: 10s
# Mounted Secrets and ConfigMaps are rewritten at a pod's periodic sync:
# every 10 s rather than every minute, so a cert-manager rotation reaches a
# real pod within seconds (the e2e rotation scenario), as kwok's harness did.
syncFrequency: 10s
`, nd, port, healthzPort, pki("kubelet.crt"), pki("kubelet.key"), pki("ca.crt"), clusterDNS)
}

// waitRealNode waits until the real node is Ready and the node lifecycle
// controller has lifted its not-ready taint, so pods schedule there.
func (c *cluster) waitRealNode(ctx context.Context) error {
	return poll(ctx, 90*time.Second, "the real node "+realNodeName+" Ready (see logs/kubelet.log)", func(ctx context.Context) (bool, error) {
		for _, pr := range c.procs {
			if (pr.Name == "kubelet" || pr.Name == "containerd") && !pr.alive() {
				return false, fmt.Errorf("%s exited; see %s", pr.Name, filepath.Join(c.dir, "logs", pr.Name+".log"))
			}
		}
		n, err := c.kube.CoreV1().Nodes().Get(ctx, realNodeName, metav1.GetOptions{})
		if err != nil {
			return false, client404(err)
		}
		ready := false
		for _, cond := range n.Status.Conditions {
			ready = ready || (cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue)
		}
		for _, t := range n.Spec.Taints {
			if t.Key == corev1.TaintNodeNotReady {
				return false, nil
			}
		}
		return ready, nil
	})
}

// cniLoEth0 is a CNI plugin run as `lo-eth0` (a link to this program): the
// pod keeps only its loopback interface (the standard loopback plugin brings
// it up); this reports an "eth0" with 127.0.0.1 because containerd's CRI
// insists on an IP for eth0. It creates no interface and no route.
func cniLoEth0() int {
	_, _ = io.Copy(io.Discard, os.Stdin)
	switch os.Getenv("CNI_COMMAND") {
	case "ADD":
		fmt.Printf(`{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":%q}],"ips":[{"version":"4","address":"127.0.0.1/8","interface":0}],"dns":{}}`+"\n", os.Getenv("CNI_NETNS"))
	case "DEL", "CHECK":
	case "VERSION":
		fmt.Println(`{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}`)
	default:
		fmt.Println(`{"cniVersion":"0.4.0","code":4,"msg":"unknown CNI_COMMAND"}`)
		return 1
	}
	return 0
}
