//go:build e2e && reliability

// The reliability suite (issue 8): faults and load against the local
// cluster, the installed chart, the controller binary run as its Deployment
// and the stub MCP server. Each scenario asserts its guarantee and reports
// a figure (t.Log and RELIABILITY_REPORT, default
// .cache/reliability/<scale>.md; docs/reliability.md quotes them).
//
//	make reliability        # full sizes (RELIABILITY_SCALE=full)
//	make reliability-short  # the sizes .ci/run uses
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/test/e2e/harness"
)

// scale is the size of every scenario.
type scale struct {
	name string
	// Controller killed: events streamed, SIGKILLs during the stream.
	killEvents, kills int
	// Leader failover: events streamed.
	failoverEvents int
	// MCP outage: events arriving during the outage, length of each phase
	// (refused, 503, hang).
	outageEvents int
	outagePhase  time.Duration
	// API server restart: events streamed.
	restartEvents int
	// Event storm: Events created, matching share across objects, and the
	// controller's peak RSS bound (MiB), its binary's pages read from disk:
	// the memory target's 100 MiB at both scales, the full one adding 16
	// deliveries in flight, the webhook under load and thousands of records
	// to the target's 100,000 Events: decision 25 (docs/design/decisions.md#d25).
	// The watcher caches no Events, only a 16-byte UID each, and reads
	// related events on demand.
	stormEvents, stormObjects int
	stormRSSMiB               float64
	// eventRate is the create rate of the streams (events/s).
	eventRate float64
	// Controller killed as a real pod on the real node: events streamed at
	// realKillRate/s, SIGKILLs of its container (the kubelet restarts it
	// after its crash-loop back-off: 0 s, 10 s, 20 s, ...).
	realKillEvents, realKills int
	realKillRate              float64
}

var scales = map[string]scale{
	"short": {name: "short", killEvents: 400, kills: 2, failoverEvents: 200, outageEvents: 100, outagePhase: 10 * time.Second,
		restartEvents: 200, stormEvents: 5000, stormObjects: 100, stormRSSMiB: 100, eventRate: 100,
		realKillEvents: 300, realKills: 2, realKillRate: 20},
	"full": {name: "full", killEvents: 2000, kills: 5, failoverEvents: 1000, outageEvents: 500, outagePhase: time.Minute,
		restartEvents: 1000, stormEvents: 100000, stormObjects: 1000, stormRSSMiB: 100, eventRate: 100,
		realKillEvents: 1500, realKills: 4, realKillRate: 20},
}

// rel is the reliability suite: the e2e suite plus figures.
type rel struct {
	*suite
	sc     scale
	report string
	// admin is a client with enough QPS to stream events.
	admin kubernetes.Interface
	// fast is a controller-runtime client without client-side throttling,
	// so latency figures measure the server.
	fast client.Client
	// tmp outlives the subtests: restarted controllers keep their work
	// directories (and logs) here.
	tmp string
	mu  sync.Mutex
}

func TestReliability(t *testing.T) {
	sc := reliabilityScale(t)
	s := setup(t, reliabilityHelm...)
	r := newRel(t, s, sc)
	t.Run("controller killed", r.testKills)
	t.Run("leader failover", r.testFailover)
	t.Run("mcp outage", r.testOutage)
	t.Run("apiserver restart", r.testAPIServerRestart)
	t.Run("event storm", r.testStorm)
	t.Run("hostile input", r.testHostile)
	t.Run("security", r.testSecurity)
}

// reliabilityHelm are the chart values of the reliability suite on top of
// the e2e suite's.
var reliabilityHelm = []string{
	// Hangs end after this; the chart default (5m) is for real analyses.
	"--set", "mcp.timeout=3s",
	// Probes every 5s, so each outage phase is really tried.
	"--set", "mcp.breakerCooldown=5s",
	"--set", "logLevel=info",
}

// reliabilityScale is RELIABILITY_SCALE's scale (default short).
func reliabilityScale(t *testing.T) scale {
	t.Helper()
	name := os.Getenv("RELIABILITY_SCALE")
	if name == "" {
		name = "short"
	}
	sc, ok := scales[name]
	require.Truef(t, ok, "RELIABILITY_SCALE=%q: want short or full", name)
	return sc
}

// reportStarted: the first suite of a test process starts the report file;
// later ones (TestReliability, TestReliabilityRealPod) append to it.
var reportStarted sync.Once

// newRel wraps the suite s; the process's first call starts the report
// file, later calls append figures to it.
func newRel(t *testing.T, s *suite, sc scale) *rel {
	t.Helper()
	r := &rel{suite: s, sc: sc, tmp: t.TempDir()}
	r.report = os.Getenv("RELIABILITY_REPORT")
	if r.report == "" {
		r.report = filepath.Join(s.root, ".cache", "reliability", sc.name+".md")
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(r.report), 0o755))
	reportStarted.Do(func() {
		require.NoError(t, os.WriteFile(r.report, fmt.Appendf(nil, "# Reliability figures (%s scale, %s)\n\n", sc.name, time.Now().UTC().Format(time.RFC3339)), 0o644))
	})
	cfg := *s.cfg
	cfg.QPS, cfg.Burst = 1000, 1000
	var err error
	r.admin, err = kubernetes.NewForConfig(&cfg)
	require.NoError(t, err)
	r.fast, err = client.New(&cfg, client.Options{Scheme: s.c.Scheme()})
	require.NoError(t, err)
	return r
}

// figure reports one measured figure of a scenario.
func (r *rel) figure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("- %s: %s\n", t.Name(), fmt.Sprintf(format, args...))
	t.Log(strings.TrimSpace(line))
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.report, os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(line)
	// A failed close can lose the appended line: it fails the test like a failed write.
	require.NoError(t, errors.Join(err, f.Close()))
}

// namespace creates a fresh work namespace, deleted at the end of the test.
func (r *rel) namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := prefix + "-" + randSuffix()
	_, err := r.kube.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	// Pods are admitted once the ServiceAccount controller made "default".
	require.Truef(t, waitUntil(t.Context(), time.Minute, func() bool {
		_, err := r.kube.CoreV1().ServiceAccounts(ns).Get(t.Context(), "default", metav1.GetOptions{})
		return err == nil
	}), "namespace %s never got its default ServiceAccount", ns)
	return ns
}

// pods creates n Pods (kwok runs them) for events to refer to.
func (r *rel) pods(t *testing.T, ns string, n int) []*corev1.Pod {
	t.Helper()
	out := make([]*corev1.Pod, 0, n)
	spec := r.onKwok(t, corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "localhost/app:1"}}})
	for i := range n {
		p, err := r.admin.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%d", i), Labels: map[string]string{"app": "reliability"}},
			Spec:       *spec.DeepCopy(),
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

// unlimited turns off the rate limit and the cooldown (the suite installs
// eventsPerMinute=7, cooldownMinutes=30), so every event is delivered.
const unlimited = "  rateLimiting: {eventsPerMinute: 10000, cooldownMinutes: 0}\n"

// policy applies a RemediationPolicy selecting Warning BackOff events of
// Pods with the given YAML lines added to its spec, and returns it.
func (r *rel) policy(t *testing.T, ns, name, extraSpec string) *v1alpha1.RemediationPolicy {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: remediation.dot-ai.io/v1alpha1
kind: RemediationPolicy
metadata: {name: %s, namespace: %s}
spec:
  eventSelectors: [{type: Warning, reason: BackOff, involvedObjectKind: Pod}]
  contextGathering: {includeLogs: false, includeRelatedEvents: false}
%s`, name, ns, extraSpec)
	out, err := r.kubectl(doc, "apply", "-f", "-")
	require.NoErrorf(t, err, "%s", out)
	var p v1alpha1.RemediationPolicy
	require.NoError(t, r.c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &p))
	return &p
}

// getPolicy reads the policy's current state.
func (r *rel) getPolicy(t *testing.T, p *v1alpha1.RemediationPolicy) *v1alpha1.RemediationPolicy {
	t.Helper()
	var cur v1alpha1.RemediationPolicy
	require.NoError(t, r.c.Get(t.Context(), client.ObjectKeyFromObject(p), &cur))
	return &cur
}

// event is one Warning BackOff Event on a pod, named uniquely.
func backOffEvent(pod *corev1.Pod, name string) *corev1.Event {
	now := metav1.Now()
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			FieldPath: "spec.containers{app}"},
		Type: corev1.EventTypeWarning, Reason: "BackOff",
		Message:        fmt.Sprintf("Back-off restarting failed container app in pod %s_%s(%s) [%s]", pod.Name, pod.Namespace, pod.UID, name),
		Source:         corev1.EventSource{Component: "kubelet", Host: "kwok-node-0"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
}

// stream creates n BackOff Events named <prefix>-<i> at rate events/s,
// spread round-robin over pods, calling during(i) before the i-th one (so
// a scenario can inject its fault mid-stream). It returns the names.
func (r *rel) stream(t *testing.T, pods []*corev1.Pod, prefix string, n int, perSecond float64, during func(i int)) []string {
	t.Helper()
	lim := rate.NewLimiter(rate.Limit(perSecond), 1)
	names := make([]string, 0, n)
	for i := range n {
		if during != nil {
			during(i)
		}
		require.NoError(t, lim.Wait(t.Context()))
		pod := pods[i%len(pods)]
		name := fmt.Sprintf("%s-%d", prefix, i)
		ev := backOffEvent(pod, name)
		// The apiserver may be restarting: keep trying, an event is not
		// optional.
		require.Eventually(t, func() bool {
			_, err := r.admin.CoreV1().Events(pod.Namespace).Create(context.Background(), ev, metav1.CreateOptions{})
			return err == nil || strings.Contains(err.Error(), "already exists")
		}, 2*time.Minute, 200*time.Millisecond, "creating event %s", name)
		names = append(names, name)
	}
	return names
}

// delivery is what the stub MCP server received for one event.
type delivery struct {
	count int
	keys  map[string]bool
}

// received returns, per event name in ns, how often the stub got a request
// for it and with which idempotency keys.
func (r *rel) received(ns string) map[string]*delivery {
	out := map[string]*delivery{}
	for _, req := range r.stubRequests() {
		if req.eventNamespace != ns {
			continue
		}
		d := out[req.eventName]
		if d == nil {
			d = &delivery{keys: map[string]bool{}}
			out[req.eventName] = d
		}
		d.count++
		d.keys[req.idempotencyKey] = true
	}
	return out
}

// stubRequest is what the suite reads from one request the stub received.
type stubRequest struct {
	// policy is nil when the body names none.
	policy                                    *mcp.PolicyRef
	eventNamespace, eventName, involvedObject string
	idempotencyKey                            string
}

// stubRequests decodes every request the stub received; bodies that are not
// remediate requests are left out.
func (r *rel) stubRequests() []stubRequest {
	var out []stubRequest
	for _, req := range r.stub.Requests() {
		var body struct {
			PolicyRef *mcp.PolicyRef `json:"policyRef"`
			Context   struct {
				Event struct {
					Namespace      string `json:"namespace"`
					Name           string `json:"name"`
					InvolvedObject struct {
						Kind string `json:"kind"`
						Name string `json:"name"`
					} `json:"involvedObject"`
				} `json:"event"`
			} `json:"context"`
		}
		if json.Unmarshal(req.Body, &body) != nil {
			continue
		}
		ev := body.Context.Event
		out = append(out, stubRequest{policy: body.PolicyRef, eventNamespace: ev.Namespace, eventName: ev.Name,
			involvedObject: ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name, idempotencyKey: req.Header.Get(mcp.IdempotencyHeader)})
	}
	return out
}

// forPolicy reports whether the request was sent on behalf of policy ns/name.
func (q stubRequest) forPolicy(ns, name string) bool {
	return q.policy != nil && q.policy.Namespace == ns && q.policy.Name == name
}

// policyRequestsBy counts the stub's requests sent on behalf of policy
// ns/name, grouped by key (the event's namespace, its involved object, ...).
func (r *rel) policyRequestsBy(ns, name string, key func(stubRequest) string) map[string]int {
	out := map[string]int{}
	for _, req := range r.stubRequests() {
		if req.forPolicy(ns, name) {
			out[key(req)]++
		}
	}
	return out
}

// awaitAllDelivered waits until every named event reached the stub at
// least once, then returns the duplicates (extra requests) and checks each
// event kept one idempotency key across its duplicates.
func (r *rel) awaitAllDelivered(t *testing.T, ns string, names []string, timeout time.Duration) (duplicates int) {
	t.Helper()
	var missing []string
	ok := waitUntil(t.Context(), timeout, func() bool {
		got := r.received(ns)
		missing = missing[:0]
		for _, n := range names {
			if got[n] == nil {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0
	})
	require.Truef(t, ok, "%d of %d events never reached the MCP stub (first: %v); controller log: %s",
		len(missing), len(names), head(missing, 5), r.controllerLog())
	got := r.received(ns)
	for _, n := range names {
		d := got[n]
		duplicates += d.count - 1
		require.Lenf(t, d.keys, 1, "event %s: one idempotency key across its %d deliveries", n, d.count)
	}
	return duplicates
}

// waitUntil polls f every 200ms until it holds or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, f func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if f() {
			return true
		}
		select {
		case <-ctx.Done():
			return f()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// restartController starts the controller again after it was killed or
// stopped, as the Deployment's replacement pod would be.
func (r *rel) restartController(t *testing.T, noServices bool, extraArgs ...string) *harness.Controller {
	t.Helper()
	dir, err := os.MkdirTemp(r.tmp, "controller-")
	require.NoError(t, err)
	ctrl, err := harness.Start(t.Context(), harness.Options{
		Config: r.cfg, Namespace: r.releaseNS, Release: r.release, Binary: controllerBinary(r.root),
		WorkDir: dir, NoServices: noServices, ExtraArgs: extraArgs,
	})
	require.NoError(t, err)
	return ctrl
}

// rssSampler records the controller's peak RSS (VmHWM) until stopped;
// VmHWM survives between samples, so sampling only has to outlive the
// process. It also keeps the largest anonymous and file-backed parts seen
// (sampled, so a short spike between samples can be missed).
type rssSampler struct {
	peak, anon, file int64
	stop             chan struct{}
	done             chan struct{}
}

func sampleRSS(ctrl *harness.Controller) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			if v, err := ctrl.PeakRSS(); err == nil && v > s.peak {
				s.peak = v
			}
			if a, f, err := ctrl.RSSParts(); err == nil {
				s.anon, s.file = max(s.anon, a), max(s.file, f)
			}
			select {
			case <-s.stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return s
}

// Parts are the largest anonymous and file-backed RSS sampled, in MiB;
// call after Stop.
func (s *rssSampler) Parts() (anon, file float64) {
	return float64(s.anon) / (1 << 20), float64(s.file) / (1 << 20)
}

// Stop ends sampling and returns the peak in MiB.
func (s *rssSampler) Stop() float64 {
	close(s.stop)
	<-s.done
	return float64(s.peak) / (1 << 20)
}
