package watcher

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/remediation"
	"dot-ai.io/controller/internal/testenv"
)

// recorder is a test Deliverer that records every request.
type recorder struct {
	mu     sync.Mutex
	reqs   []delivery.Request
	delay  time.Duration
	result func(delivery.Request) delivery.Result
	calls  atomic.Int64
}

func (r *recorder) Deliver(ctx context.Context, req delivery.Request) delivery.Result {
	r.calls.Add(1)
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeDeliveryFailed}}
		}
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	if r.result != nil {
		return r.result(req)
	}
	return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeAnalysisCompleted, McpStatus: "success"}}
}

// events returns the names of delivered events.
func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.reqs))
	for _, q := range r.reqs {
		out = append(out, q.Event.Name)
	}
	return out
}

func (r *recorder) requests() []delivery.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery.Request(nil), r.reqs...)
}

// running is a manager with a watcher.
type running struct {
	w       *Watcher
	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
}

func startWatcher(t testing.TB, cfg *rest.Config, s *config.Settings, d delivery.Deliverer, hook func(*corev1.Event), opts ...Option) *running {
	t.Helper()
	r := startManager(t, cfg, s, d, hook, false, opts...)
	require.Eventually(t, r.w.Ready, 30*time.Second, 20*time.Millisecond, "watcher did not start")
	return r
}

// startManager starts a manager with a watcher; with leaderElect it competes
// for a short Lease in the dot-ai namespace and may stay a standby.
func startManager(t testing.TB, cfg *rest.Config, s *config.Settings, d delivery.Deliverer, hook func(*corev1.Event), leaderElect bool, opts ...Option) *running {
	t.Helper()
	mo := manager.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  remediation.ManagerCache(),
	}
	if leaderElect {
		mo.LeaderElection = true
		mo.LeaderElectionID = "dot-ai-watcher-test"
		mo.LeaderElectionNamespace = s.Namespace
		mo.LeaseDuration = ptr.To(3 * time.Second)
		mo.RenewDeadline = ptr.To(2 * time.Second)
		mo.RetryPeriod = ptr.To(500 * time.Millisecond)
	}
	mgr, err := manager.New(cfg, mo)
	require.NoError(t, err)
	w, err := New(mgr, s, d, append([]Option{WithStatusInterval(200 * time.Millisecond), WithCheckpointInterval(200 * time.Millisecond)}, opts...)...)
	require.NoError(t, err)
	w.afterEvent = hook
	require.NoError(t, w.SetupWithManager(mgr))
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- mgr.Start(ctx) }()
	return r
}

// stop cancels the manager and waits for it; a second call does nothing.
func (r *running) stop(t testing.TB) {
	r.stopped.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			require.NoError(t, err)
		case <-time.After(60 * time.Second):
			t.Fatal("manager did not stop")
		}
	})
}

// fixture is what an integration subtest starts from: its namespace with
// one policy "p", a recording Deliverer, a hook to await processed Events
// and a started watcher (stopped when the test ends).
type fixture struct {
	policy   *v1alpha1.RemediationPolicy
	rec      *recorder
	seen     *seenHook
	settings *config.Settings
	run      *running
}

type fixtureConfig struct {
	settings    *config.Settings
	rec         *recorder
	editPolicy  func(*v1alpha1.RemediationPolicy)
	beforeStart func()
	reason      string
}

type fixtureOption func(*fixtureConfig)

// withSettings changes the watcher's settings (testSettings by default).
func withSettings(change func(*config.Settings)) fixtureOption {
	return func(c *fixtureConfig) { change(c.settings) }
}

// withPolicy changes the policy before it is created.
func withPolicy(change func(*v1alpha1.RemediationPolicy)) fixtureOption {
	return func(c *fixtureConfig) { c.editPolicy = change }
}

// withRecorder sets the Deliverer (an empty recorder by default).
func withRecorder(rec *recorder) fixtureOption { return func(c *fixtureConfig) { c.rec = rec } }

// beforeStart runs after the policy was created and before the watcher starts.
func beforeStart(f func()) fixtureOption { return func(c *fixtureConfig) { c.beforeStart = f } }

// expectReason is the Ready reason awaited after the start (Active by default).
func expectReason(reason string) fixtureOption { return func(c *fixtureConfig) { c.reason = reason } }

// newFixture creates namespace ns and policy "p" selecting sel in it, starts
// a watcher and waits until the policy's Ready reason is the expected one.
func newFixture(t *testing.T, env *testenv.Env, ns string, sel v1alpha1.EventSelector, opts ...fixtureOption) *fixture {
	t.Helper()
	cfg := fixtureConfig{settings: testSettings(), rec: &recorder{}, reason: v1alpha1.ReasonActive}
	for _, o := range opts {
		o(&cfg)
	}
	createNamespace(t, env.Client, ns, nil)
	p := newPolicy(ns, "p", sel)
	if cfg.editPolicy != nil {
		cfg.editPolicy(p)
	}
	require.NoError(t, env.Client.Create(context.Background(), p))
	if cfg.beforeStart != nil {
		cfg.beforeStart()
	}
	f := &fixture{policy: p, rec: cfg.rec, seen: newSeenHook(), settings: cfg.settings}
	f.run = startWatcher(t, env.Config, cfg.settings, cfg.rec, f.seen.hook)
	t.Cleanup(func() { f.run.stop(t) })
	waitReason(t, env.Client, p, cfg.reason)
	return f
}

// seenHook lets tests await the processing of a given event.
type seenHook struct {
	mu   sync.Mutex
	seen map[string]bool
}

func newSeenHook() *seenHook { return &seenHook{seen: map[string]bool{}} }

func (h *seenHook) hook(ev *corev1.Event) {
	h.mu.Lock()
	h.seen[ev.Namespace+"/"+ev.Name] = true
	h.mu.Unlock()
}

func (h *seenHook) wait(t testing.TB, ns, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.seen[ns+"/"+name]
	}, 20*time.Second, 10*time.Millisecond, "event %s/%s not processed", ns, name)
}

func createNamespace(t testing.TB, c client.Client, name string, labels map[string]string) {
	t.Helper()
	require.NoError(t, c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}))
}

// createPod creates a one-container Pod (envtest runs no kubelet: it stays
// Pending, which is enough to exist in the caches).
func createPod(t testing.TB, c client.Client, ns, name string) {
	t.Helper()
	require.NoError(t, c.Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}))
}

type evOpt func(*corev1.Event)

func createEvent(t testing.TB, c client.Client, ns, name, typ, reason, kind, obj string, opts ...evOpt) *corev1.Event {
	t.Helper()
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Name: obj, Namespace: ns, APIVersion: "v1"},
		Type:           typ, Reason: reason, Message: fmt.Sprintf("%s of %s", reason, obj),
		Count: 1, FirstTimestamp: now, LastTimestamp: now,
		Source: corev1.EventSource{Component: "kubelet"},
	}
	for _, o := range opts {
		o(ev)
	}
	require.NoError(t, c.Create(context.Background(), ev))
	return ev
}

func newPolicy(ns, name string, sels ...v1alpha1.EventSelector) *v1alpha1.RemediationPolicy {
	return &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RemediationPolicySpec{
			EventSelectors: sels,
			Mode:           v1alpha1.ModeManual,
			RateLimiting:   &v1alpha1.RateLimiting{EventsPerMinute: ptr.To[int32](1000), CooldownMinutes: ptr.To[int32](0)},
		},
	}
}

func readyReason(c client.Client, p *v1alpha1.RemediationPolicy) func() string {
	return func() string {
		var cur v1alpha1.RemediationPolicy
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(p), &cur); err != nil {
			return err.Error()
		}
		cond := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionReady)
		if cond == nil || cond.ObservedGeneration != cur.Generation {
			return ""
		}
		return cond.Reason
	}
}

func waitReason(t testing.TB, c client.Client, p *v1alpha1.RemediationPolicy, reason string) {
	t.Helper()
	f := readyReason(c, p)
	require.Eventually(t, func() bool { return f() == reason }, 20*time.Second, 20*time.Millisecond, "Ready reason never became %s (last %q)", reason, f())
}

// updatePolicy applies change to the latest p, retrying on conflicts with
// the watcher's status writes.
func updatePolicy(t testing.TB, c client.Client, p *v1alpha1.RemediationPolicy, change func(*v1alpha1.RemediationPolicy)) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(p), p); err != nil {
			return err
		}
		change(p)
		return c.Update(context.Background(), p)
	}))
}
