package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	_ "net/http/pprof" // the child's CPU profile (BENCH_PROFILE)
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/internal/testenv"
	"dot-ai.io/controller/internal/webhook"
)

// The end-to-end benchmark with enrichment (make bench-enrich,
// docs/benchmarks.md): a real apiserver (envtest), Pods whose logs the
// apiserver reads from a loopback stub kubelet, the stub MCP answering in
// 200 ms, and the controller binary's code in a child process with default
// context gathering. BENCH_RATE matching Events per second are created for
// BENCH_SECONDS; BENCH_ARGS adds controller flags (space-separated).

const (
	envBenchChild = "DOT_AI_BENCH_CHILD_ARGS"
	// envBenchPprof is the loopback address the child serves net/http/pprof
	// on when BENCH_PROFILE asks for CPU profiles.
	envBenchPprof = "DOT_AI_BENCH_PPROF"
)

// TestBenchControllerChild is the child process of BenchmarkEnrichedEvents;
// without its variable it does nothing.
func TestBenchControllerChild(t *testing.T) {
	args := os.Getenv(envBenchChild)
	if args == "" {
		t.Skip("only as BenchmarkEnrichedEvents' child")
	}
	o, err := parseFlags(strings.Split(args, "\n"), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	// The binary's logger, writing to a file as a container's to its log.
	logs, err := os.Create(filepath.Join(t.TempDir(), "controller.log"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, logs.Close()) })
	setupProcess(o, logs)
	if addr := os.Getenv(envBenchPprof); addr != "" {
		srv := &http.Server{Addr: addr, ReadHeaderTimeout: time.Second} // net/http/pprof's handlers
		go func() { _ = srv.ListenAndServe() }()
		defer func() { _ = srv.Close() }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	require.NoError(t, run(ctx, o))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// stubKubelet serves container logs on loopback TLS, as a kubelet would to
// the apiserver's pods/log proxy.
func stubKubelet(b *testing.B) (port int, reads *atomic.Int64) {
	reads = &atomic.Int64{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reads.Add(1)
		for i := range 50 {
			_, _ = fmt.Fprintf(w, "2026-11-29T10:00:%02dZ error: connection refused to db:5432 (attempt %d)\n", i%60, i)
		}
	}))
	srv.Listener, _ = net.Listen("tcp", "127.0.0.1:0")
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	b.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port, reads
}

// benchWorkloads creates deployments × pods crash-looping Pods on one Node
// whose kubelet is the stub, each Pod owned by a ReplicaSet owned by a
// Deployment (inert: envtest runs no controllers).
func benchWorkloads(b *testing.B, c client.Client, ns string, kubeletPort, deployments, pods int) []string {
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bench-node"}}
	if err := c.Create(ctx, node); err == nil {
		node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
		node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(kubeletPort)
		require.NoError(b, c.Status().Update(ctx, node))
	}
	var names []string
	for d := range deployments {
		labels := map[string]string{"app": fmt.Sprintf("web-%d", d)}
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("web-%d", d)},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/app:1"}}}}}}
		require.NoError(b, c.Create(ctx, dep))
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: dep.Name + "-7d4b9c", Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: new(true)}}},
			Spec: appsv1.ReplicaSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template}}
		require.NoError(b, c.Create(ctx, rs))
		var wg sync.WaitGroup
		for p := range pods {
			name := fmt.Sprintf("%s-%05d", rs.Name, p)
			names = append(names, name)
			wg.Go(func() {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels,
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: new(true)}}},
					Spec: corev1.PodSpec{NodeName: "bench-node", Containers: []corev1.Container{{Name: "app", Image: "registry.local/app:1"}}}}
				require.NoError(b, c.Create(ctx, pod))
				pod.Status.Phase = corev1.PodRunning
				pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "registry.local/app:1", RestartCount: 3,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					// A kubelet names the terminated container; its log is final.
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1,
						ContainerID: "containerd://" + name + "-3"}}}}
				require.NoError(b, c.Status().Update(ctx, pod))
			})
		}
		wg.Wait()
	}
	return names
}

var requestLine = regexp.MustCompile(`^apiserver_request_total\{(.*)\} (\S+)$`)

// apiRequests sums apiserver_request_total by "VERB resource[/subresource]",
// watches left out.
func apiRequests(b *testing.B, cfg *rest.Config) map[string]float64 {
	rc, err := rest.RESTClientFor(withCodec(cfg))
	require.NoError(b, err)
	raw, err := rc.Get().AbsPath("/metrics").DoRaw(context.Background())
	require.NoError(b, err)
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := requestLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for kv := range strings.SplitSeq(m[1], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		if labels["verb"] == "WATCH" {
			continue
		}
		key := labels["verb"] + " " + labels["resource"]
		if labels["subresource"] != "" {
			key += "/" + labels["subresource"]
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		out[key] += v
	}
	return out
}

func withCodec(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(testenv.Scheme()).WithoutConversion()
	return c
}

// procCPU returns the process's user+system CPU seconds and peak RSS (MiB).
func procCPU(b *testing.B, pid int) (cpu, hwm float64) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err)
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			hwm = kb / 1024
		}
	}
	return (ut + st) / 100, hwm
}

// childrenNamed finds this process's children by command name (envtest's
// kube-apiserver and etcd), for their CPU.
func childrenNamed(b *testing.B, names ...string) map[string]int {
	out := map[string]int{}
	dirs, err := os.ReadDir("/proc")
	require.NoError(b, err)
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) && slices.Contains(names, s[open+1:end]) {
			out[s[open+1:end]] = pid
		}
	}
	return out
}

// benchProfiles writes CPU profiles of the apiserver and the controller for
// the creation window into dir (BENCH_PROFILE).
func benchProfiles(b *testing.B, cfg *rest.Config, child, dir string, seconds int) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		rc, err := rest.RESTClientFor(withCodec(cfg))
		require.NoError(b, err)
		raw, err := rc.Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(seconds)).Timeout(time.Duration(seconds+30) * time.Second).DoRaw(context.Background())
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "apiserver.pprof"), raw, 0o600)
		}
		b.Logf("apiserver profile: %v", err)
	})
	wg.Go(func() { // where the controller's goroutines wait, halfway through
		time.Sleep(time.Duration(seconds) * time.Second / 2)
		b.Logf("controller goroutines: %v", testenv.SaveURL(child+"/debug/pprof/goroutine?debug=1", filepath.Join(dir, "controller-goroutines.txt")))
	})
	wg.Go(func() {
		b.Logf("controller profile: %v", testenv.SaveURL(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", child, seconds), filepath.Join(dir, "controller.pprof")))
	})
	return &wg
}

func BenchmarkEnrichedEvents(b *testing.B) {
	rate, seconds := envInt("BENCH_RATE", 100), envInt("BENCH_SECONDS", 60)
	const token = "bench-token"
	stub := mcptest.New(mcptest.Options{Token: token, Latency: 200 * time.Millisecond})
	require.NoError(b, stub.Start("127.0.0.1:0"))
	b.Cleanup(func() { _ = stub.Close() })
	kubeletPort, logReads := stubKubelet(b)

	env := testenv.Start(b, testenv.Options{Webhooks: testenv.WebhookOptions(webhook.MutatePath, webhook.ValidatePath)})
	fast := rest.CopyConfig(env.Config)
	fast.QPS, fast.Burst = -1, 0
	c, err := client.New(fast, client.Options{Scheme: testenv.Scheme()})
	require.NoError(b, err)
	// The generator posts Events in protobuf, as kubelets and controllers do.
	gen := rest.CopyConfig(fast)
	gen.ContentType = runtime.ContentTypeProtobuf
	events, err := kubernetes.NewForConfig(gen)
	require.NoError(b, err)
	ctx := context.Background()
	// One namespace and policy per 150 Events/s (eventsPerMinute ≤ 10,000).
	namespaces := (rate + 149) / 150
	pods := map[string][]string{}
	for i := range namespaces {
		ns := fmt.Sprintf("bench-%d", i)
		require.NoError(b, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		pods[ns] = benchWorkloads(b, c, ns, kubeletPort, 10, 100)
	}
	require.NoError(b, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dot-ai"}}))

	kubeconfig := serviceAccountKubeconfig(b, env.Config, "dot-ai", "dot-ai-controller")
	dir := b.TempDir()
	require.NoError(b, os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600))
	require.NoError(b, os.WriteFile(filepath.Join(dir, "token"), []byte(token), 0o600))
	probe := testenv.FreePort(b)
	wo := env.WebhookInstallOptions
	args := []string{"--kubeconfig=" + filepath.Join(dir, "kubeconfig"), "--namespace=dot-ai", "--metrics-bind-address=0",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probe), "--webhook-host=127.0.0.1",
		fmt.Sprintf("--webhook-port=%d", wo.LocalServingPort), "--webhook-cert-dir=" + wo.LocalServingCertDir,
		"--mcp-endpoint=" + stub.URL(), "--mcp-token-file=" + filepath.Join(dir, "token"), "--leader-elect=false",
		"--analysis-calls-per-hour=1000000", "--namespace-analysis-calls-per-hour=1000000", "--zap-log-level=error",
		// Every manual analysis leaves a proposal awaiting a decision: the
		// cap on open proposals would end the run's deliveries, not its rate.
		"--remediation-max-open-per-namespace=100000"}
	args = append(args, strings.Fields(os.Getenv("BENCH_ARGS"))...)
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchControllerChild$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), envBenchChild+"="+strings.Join(args, "\n")) // run() sets --gc-percent's default
	profDir, pprofAddr := os.Getenv("BENCH_PROFILE"), fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(b))
	if profDir != "" {
		cmd.Env = append(cmd.Env, envBenchPprof+"="+pprofAddr)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(b, cmd.Start())
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	require.Eventually(b, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probe))
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond)
	for ns := range pods {
		p := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crashes"},
			Spec: v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{{Type: "Warning", Reason: "BackOff"}},
				Mode: v1alpha1.ModeManual, RateLimiting: &v1alpha1.RateLimiting{EventsPerMinute: ptr.To[int32](10000), CooldownMinutes: ptr.To[int32](0)}}}
		require.NoError(b, c.Create(ctx, p))
	}
	time.Sleep(1500 * time.Millisecond) // Events must be newer than the policy (1 s resolution)

	before := apiRequests(b, env.Config)
	cpu0, _ := procCPU(b, cmd.Process.Pid)
	self0, _ := procCPU(b, os.Getpid()) // the generator and both stubs
	planePIDs := childrenNamed(b, "kube-apiserver", "etcd")
	plane0 := map[string]float64{}
	for n, pid := range planePIDs {
		plane0[n], _ = procCPU(b, pid)
	}
	if profDir != "" {
		profiles := benchProfiles(b, env.Config, "http://"+pprofAddr, profDir, seconds)
		defer profiles.Wait()
	}
	total := rate * seconds
	created := make([]time.Time, total)
	posted := make([]float64, total) // the generator's create, seconds: part of the latency
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	start := time.Now()
	b.ResetTimer()
	for i := range total {
		<-tick.C
		ns := fmt.Sprintf("bench-%d", i%namespaces)
		pod := pods[ns][(i/namespaces)%len(pods[ns])]
		wg.Go(func() {
			now := metav1.Now()
			ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("ev-%07d", i)},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: pod},
				Type:           "Warning", Reason: "BackOff", Count: 1, FirstTimestamp: now, LastTimestamp: now,
				Message: "Back-off restarting failed container app in pod " + pod,
				Source:  corev1.EventSource{Component: "kubelet", Host: "bench-node"}}
			created[i] = time.Now()
			if _, err := events.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
				b.Error(err)
			}
			posted[i] = time.Since(created[i]).Seconds()
		})
	}
	tick.Stop()
	wg.Wait()
	genEnd := time.Since(start)
	deadline := time.Now().Add(120 * time.Second)
	for stub.Count() < total && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	cpu1, hwm := procCPU(b, cmd.Process.Pid)
	self1, _ := procCPU(b, os.Getpid())
	for n, pid := range planePIDs {
		c, _ := procCPU(b, pid)
		b.ReportMetric((c-plane0[n])/genEnd.Seconds(), n+"-CPU-cores")
	}
	after := apiRequests(b, env.Config)

	got := map[string]time.Time{}
	name := regexp.MustCompile(`ev-\d{7}`)
	for _, r := range stub.Requests() {
		if n := name.Find(r.Body); n != nil {
			if _, dup := got[string(n)]; !dup {
				got[string(n)] = r.Time
			}
		}
	}
	// The first Event about each Pod finds nothing read yet (its Pod, log
	// and record each take a round trip); later ones share those reads.
	firstAboutPod := namespaces * len(pods["bench-0"])
	var lat, first, later []float64
	var inWindow int
	for i := range total {
		if t, ok := got[fmt.Sprintf("ev-%07d", i)]; ok {
			d := t.Sub(created[i]).Seconds()
			lat = append(lat, d)
			if i < firstAboutPod {
				first = append(first, d)
			} else {
				later = append(later, d)
			}
			if t.Sub(start) <= genEnd {
				inWindow++
			}
		}
	}
	pct := func(s []float64, p int) float64 {
		if len(s) == 0 {
			return 0
		}
		slices.Sort(s)
		return s[min(len(s)-1, len(s)*p/100)]
	}
	var reqs float64
	var lines []string
	for k, v := range after {
		d := v - before[k]
		if k == "POST events" {
			d -= float64(total)
		}
		if d > 0 {
			reqs += d
			lines = append(lines, fmt.Sprintf("%s=%.0f", k, d))
		}
	}
	slices.Sort(lines)
	b.Logf("apiserver requests: %s; stub kubelet log reads %d", strings.Join(lines, " "), logReads.Load())
	b.ReportMetric(float64(len(lat)), "delivered")
	b.ReportMetric(float64(total), "created")
	b.ReportMetric(pct(lat, 50)*1000, "p50-ms")
	b.ReportMetric(pct(lat, 99)*1000, "p99-ms")
	b.ReportMetric(pct(first, 99)*1000, "p99-first-about-pod-ms")
	b.ReportMetric(pct(later, 99)*1000, "p99-later-ms")
	b.ReportMetric(pct(posted, 99)*1000, "p99-event-create-ms")
	b.ReportMetric(float64(inWindow)/genEnd.Seconds(), "delivered/s")
	b.ReportMetric(reqs/float64(max(len(lat), 1)), "api-req/event")
	b.ReportMetric((cpu1-cpu0)/genEnd.Seconds(), "ctrl-CPU-cores")
	b.ReportMetric(hwm, "ctrl-peak-RSS-MiB")
	b.ReportMetric((self1-self0)/genEnd.Seconds(), "generator+stubs-CPU-cores")
}
