package watcher

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/testenv"
)

// Benchmarks run against a real kube-apiserver (envtest) and only with
// -bench (make bench). Each does its work once, whatever b.N is.

func fastClient(b *testing.B, cfg *rest.Config) client.Client {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 2000, 2000
	cl, err := client.New(c, client.Options{Scheme: testenv.Scheme()})
	require.NoError(b, err)
	return cl
}

func benchEvent(ns, name, reason string) *corev1.Event {
	now := metav1.Now()
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-" + name, Namespace: ns, APIVersion: "v1"},
		Type:           "Warning", Reason: reason, Count: 1, FirstTimestamp: now, LastTimestamp: now,
		Message: "Back-off restarting failed container app in pod web-" + name + "_" + ns + "(0a1b2c3d-aaaa-bbbb-cccc-0123456789ab)",
		Source:  corev1.EventSource{Component: "kubelet", Host: "node-1"},
	}
}

// timingDeliverer records when each event's delivery started and optionally
// waits like a slow MCP.
type timingDeliverer struct {
	mu    sync.Mutex
	start map[string]time.Time
	delay time.Duration
	done  atomic.Int64
}

func (d *timingDeliverer) Deliver(ctx context.Context, req delivery.Request) delivery.Result {
	d.mu.Lock()
	if _, ok := d.start[req.Event.Name]; !ok {
		d.start[req.Event.Name] = time.Now()
	}
	d.mu.Unlock()
	if d.delay > 0 {
		select {
		case <-time.After(d.delay):
		case <-ctx.Done():
		}
	}
	d.done.Add(1)
	return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeAnalysisCompleted}}
}

// benchCluster starts an apiserver with the namespaces dot-ai and bench and
// one policy in bench selecting Warnings of reason at up to epm per minute;
// it returns the environment and a client with a high rate limit.
func benchCluster(b *testing.B, epm int32, reason string) (*testenv.Env, client.Client) {
	env := testenv.Start(b, testenv.Options{})
	c := fastClient(b, env.Config)
	createNamespace(b, c, "dot-ai", nil)
	createNamespace(b, c, "bench", nil)
	p := newPolicy("bench", "bench", v1alpha1.EventSelector{Type: "Warning", Reason: reason})
	p.Spec.RateLimiting.EventsPerMinute = &epm
	require.NoError(b, c.Create(context.Background(), p))
	return env, c
}

// BenchmarkLatency: 1 policy (eventsPerMinute 10000, cooldown 0), default
// concurrency/queue, 1000 matching events created at 100/s; latency from
// just before the create call to the Deliverer being called.
func BenchmarkLatency(b *testing.B) {
	env, c := benchCluster(b, 10000, "BackOff")
	d := &timingDeliverer{start: map[string]time.Time{}}
	r := startWatcher(b, env.Config, testSettings(), d, nil)
	defer r.stop(b)
	time.Sleep(1100 * time.Millisecond) // events must be newer than the policy (1 s resolution)

	const n, rate = 1000, 100
	created := make([]time.Time, n)
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := range n {
		<-tick.C
		wg.Go(func() {
			created[i] = time.Now()
			if err := c.Create(context.Background(), benchEvent("bench", fmt.Sprintf("lat-%04d", i), "BackOff")); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	require.Eventually(b, func() bool { return d.done.Load() == n }, 60*time.Second, 10*time.Millisecond)
	b.StopTimer()
	lat := make([]float64, 0, n)
	d.mu.Lock()
	for i := range n {
		lat = append(lat, d.start[fmt.Sprintf("lat-%04d", i)].Sub(created[i]).Seconds()*1000)
	}
	d.mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(lat[n/2], "p50-ms")
	b.ReportMetric(lat[n*99/100], "p99-ms")
	b.ReportMetric(lat[n-1], "max-ms")
}

// BenchmarkThroughputSlowMCP: every call takes 60 s; default settings
// (concurrency 128, queue 10000), 1 policy with eventsPerMinute 10000.
// Matching events arrive at 150/min for 150 s; the metric is the rate of
// finished deliveries from minute 1 to 2.5 (steady state).
func BenchmarkThroughputSlowMCP(b *testing.B) {
	env, c := benchCluster(b, 10000, "BackOff")
	d := &timingDeliverer{start: map[string]time.Time{}, delay: 60 * time.Second}
	s := testSettings()
	r := startWatcher(b, env.Config, s, d, nil)
	defer func() {
		s.DrainTimeout = time.Second
		r.stop(b)
	}()
	time.Sleep(1100 * time.Millisecond)

	b.ResetTimer()
	start := time.Now()
	tick := time.NewTicker(time.Minute / 150)
	defer tick.Stop()
	var at60 int64
	for i := 0; time.Since(start) < 150*time.Second; i++ {
		<-tick.C
		if at60 == 0 && time.Since(start) >= 60*time.Second {
			at60 = d.done.Load()
		}
		go func() {
			_ = c.Create(context.Background(), benchEvent("bench", fmt.Sprintf("tp-%05d", i), "BackOff"))
		}()
	}
	end := d.done.Load()
	b.StopTimer()
	perMin := float64(end-at60) / 1.5
	b.ReportMetric(perMin, "deliveries/min")
	b.ReportMetric(float64(end), "finished")
}

// BenchmarkMemoryEvents: 0, then 50,000, then 100,000 Events in the
// cluster (one apiserver, Events added between the steps), one policy that
// matches none of them; at each step a new watcher runs in a child process
// and its peak RSS (VmHWM) is read from /proc after its start-up: first
// without the related-events index, then with it, as in the controller.
func BenchmarkMemoryEvents(b *testing.B) {
	const memoryRuns = 3
	env, c := benchCluster(b, 10, "NeverHappens")
	kubeconfig := writeKubeconfig(b, env.Config)
	bin := buildController(b)
	created := 0
	for _, n := range []int{0, 50000, 100000} {
		createBenchEvents(b, c, created, n)
		created = n
		for _, index := range []bool{false, true} {
			name := fmt.Sprintf("events-%d", n)
			if !index {
				name += "-no-index"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					// The peak varies by a few MiB from run to run (when the
					// collector runs): the median of several children is reported.
					var hwms, rsss, syncs []float64
					for range memoryRuns {
						hwm, rss, syncTime := childMemory(b, kubeconfig, index)
						hwms, rsss, syncs = append(hwms, hwm), append(rsss, rss), append(syncs, syncTime.Seconds())
					}
					b.Logf("peak RSS of each run (KiB): %.0f", hwms)
					b.ReportMetric(median(hwms)/1024, "peak-RSS-MiB")
					b.ReportMetric(median(rsss)/1024, "RSS-MiB")
					b.ReportMetric(median(syncs), "sync-s")
				}
			})
		}
		b.Run(fmt.Sprintf("events-%d-binary", n), func(b *testing.B) {
			for b.Loop() {
				var bins, anons, files []float64
				for range memoryRuns {
					hwm, anon, file := binaryMemory(b, bin, kubeconfig)
					bins, anons, files = append(bins, hwm), append(anons, anon), append(files, file)
				}
				b.Logf("peak RSS of each run (KiB): %.0f; anonymous %.0f; file-backed %.0f", bins, anons, files)
				b.ReportMetric(median(bins)/1024, "peak-RSS-MiB")
				b.ReportMetric(median(anons)/1024, "anon-RSS-MiB")
			}
		})
	}
}

// median of vs (not empty).
func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	return s[len(s)/2]
}

// createBenchEvents creates the Events numbered from to to.
func createBenchEvents(b *testing.B, c client.Client, from, to int) {
	next := atomic.Int64{}
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(to) {
					return
				}
				if err := c.Create(context.Background(), benchEvent("bench", fmt.Sprintf("mem-%06d", i), "BackOff")); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// childMemory runs the watcher in a child process (this test binary in
// helper mode, production settings) until its start-up is done plus 2 s for
// the first checkpoint and status writes, and returns its peak and current
// RSS in KiB and its start-up time.
func childMemory(b *testing.B, kubeconfig string, index bool) (hwm, rss float64, syncTime time.Duration) {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envKubeconfig+"="+kubeconfig)
	if !index {
		cmd.Env = append(cmd.Env, envNoEventIndex+"=1")
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		cmd.Env = append(cmd.Env, "GOGC="+strconv.Itoa(config.DefaultGCPercent)) // the binary's default (--gc-percent)
	}
	out, err := cmd.StdoutPipe()
	require.NoError(b, err)
	cmd.Stderr = nil
	require.NoError(b, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	started := time.Now()
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), childReady) {
			ready = true
			break
		}
	}
	require.True(b, ready, "child did not report ready")
	syncTime = time.Since(started)
	time.Sleep(2 * time.Second) // let the first checkpoint/status writes happen
	hwm, rss = procMem(b, cmd.Process.Pid)
	return hwm, rss, syncTime
}

// procMem returns VmHWM and VmRSS in KiB.
func procMem(b *testing.B, pid int) (hwm, rss float64) {
	st := procStatus(b, pid)
	return st["VmHWM"], st["VmRSS"]
}

// procStatus returns the numeric fields of /proc/<pid>/status (memory in
// KiB), by name.
func procStatus(b *testing.B, pid int) map[string]float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		f := strings.Fields(value)
		if !ok || len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// BenchmarkSelectionCeiling: how many Events per second one watcher selects
// without falling behind. 30,000 Events (one in ten matching) are created as
// fast as the apiserver takes them (64 writers); the watcher selects them
// against 10 policies and hands matches to an instant Deliverer. Reported:
// the create rate, the rate the watcher processed them at, how far it
// lagged when the last create returned, and the process's CPU per 1,000
// Events (writers included).
func BenchmarkSelectionCeiling(b *testing.B) {
	env, c := benchCluster(b, 10000, "BackOff")
	for i := range 9 {
		p := newPolicy("bench", fmt.Sprintf("other-%d", i), v1alpha1.EventSelector{Type: "Warning", Reason: fmt.Sprintf("Other%d", i)})
		require.NoError(b, c.Create(context.Background(), p))
	}
	var processed atomic.Int64
	d := &timingDeliverer{start: map[string]time.Time{}}
	r := startWatcher(b, env.Config, testSettings(), d, func(*corev1.Event) { processed.Add(1) })
	defer r.stop(b)
	time.Sleep(1100 * time.Millisecond)

	const n = 30000
	var next atomic.Int64
	var wg sync.WaitGroup
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	b.ResetTimer()
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				reason := "Pulled"
				if i%10 == 0 {
					reason = "BackOff"
				}
				if err := c.Create(context.Background(), benchEvent("bench", fmt.Sprintf("ceil-%05d", i), reason)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	created := time.Since(start)
	behind := n - processed.Load()
	require.Eventually(b, func() bool { return processed.Load() >= n }, 5*time.Minute, 10*time.Millisecond)
	done := time.Since(start)
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(n/created.Seconds(), "created/s")
	b.ReportMetric(n/done.Seconds(), "processed/s")
	b.ReportMetric(float64(behind), "behind-at-last-create")
	b.ReportMetric((done-created).Seconds()*1000, "lag-ms")
	b.ReportMetric(cpu.Seconds()*1000/(n/1000), "cpu-ms/1k-events")
}
