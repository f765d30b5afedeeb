//go:build e2e && reliability

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/testenv"
	"dot-ai.io/controller/internal/webhook/webhooktest"
	"dot-ai.io/controller/test/e2e/harness"
)

// Storm settings: the limited policy's limits, and a controller whose
// queue the flood policy fills on purpose (slow MCP, few slots).
const (
	stormEventsPerMinute = 60
	stormCooldownMinutes = 60
	stormConcurrency     = 16
	stormQueueSize       = 100
	stormMCPLatency      = time.Second
	stormCreators        = 8
)

// testStorm: a burst of Events, mostly non-matching, created as fast as the
// apiserver takes them. Two policies see the matching ones: "limited"
// (eventsPerMinute and a cooldown) and "flood" (no limits), whose load fills
// the delivery queue. Asserted: every matching event ends in exactly one
// counted outcome per policy; the cooldown lets at most one delivery per
// object through and the token bucket at most its allowance; queue-full
// drops are counted and shown as Ready=False/QueueFull; peak RSS stays
// under the scale's bound; the webhook answers within 10 ms p99 during the
// storm.
func (r *rel) testStorm(t *testing.T) {
	ns := r.namespace(t, "storm")
	require.NoError(t, r.ctrl.Stop())
	// The peak RSS bound counts the binary's resident pages: they are read
	// from disk as the controller touches them, not left as the linker's
	// write put them in the page cache (testenv.DropCachedPages).
	require.NoError(t, testenv.DropCachedPages(controllerBinary(r.root)))
	profiles := newHeapProfiles(t)
	r.ctrl = r.restartController(t, false, append(profiles.Args(), harness.Arg(config.FlagConcurrency, stormConcurrency), harness.Arg(config.FlagQueueSize, stormQueueSize))...)
	defer func() {
		// The next scenarios start from a controller without the storm's
		// Events in its cache: the namespace goes, and with it its Events
		// (the namespace controller deletes them in batches, where one
		// DeleteCollection of 100,000 would outlast the request timeout).
		err := r.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		require.True(t, err == nil || apierrors.IsNotFound(err), "deleting %s: %v", ns, err)
		require.True(t, waitUntil(context.Background(), 10*time.Minute, func() bool {
			_, err := r.kube.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}), "namespace %s and its storm Events deleted", ns)
		require.NoError(t, r.ctrl.Stop())
		r.ctrl = r.restartController(t, false)
	}()
	pods := r.pods(t, ns, r.sc.stormObjects)
	limited := r.policy(t, ns, "limited", fmt.Sprintf("  rateLimiting: {eventsPerMinute: %d, cooldownMinutes: %d}\n", stormEventsPerMinute, stormCooldownMinutes))
	flood := r.policy(t, ns, "flood", unlimited)
	r.awaitReady(t, limited)
	r.awaitReady(t, flood)
	r.stub.SetLatency(stormMCPLatency)
	defer r.stub.SetLatency(0)

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	rss := sampleRSS(r.ctrl)
	profiles.Run(ctx, t, r.ctrl)
	hookBefore := r.webhookLatency(t)
	var direct, roundTrip []time.Duration
	wg.Go(func() { direct = r.admissionDirect(ctx, ns) })
	wg.Go(func() { roundTrip = r.admissionRoundTrip(ctx, ns) })
	var sawQueueFull atomic.Bool
	wg.Go(func() {
		for ctx.Err() == nil {
			var cur v1alpha1.RemediationPolicy
			if r.c.Get(ctx, client.ObjectKeyFromObject(flood), &cur) == nil {
				if c := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Reason == v1alpha1.ReasonQueueFull {
					sawQueueFull.Store(true)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	})

	n := r.sc.stormEvents
	start := time.Now()
	matching := r.storm(t, pods, n)
	created := time.Since(start)

	want := int64(len(matching))
	var stLimited, stFlood v1alpha1.RemediationPolicyStatus
	ok := waitUntil(t.Context(), 10*time.Minute, func() bool {
		stLimited, stFlood = r.getPolicy(t, limited).Status, r.getPolicy(t, flood).Status
		return stLimited.TotalEventsProcessed >= want && stFlood.TotalEventsProcessed >= want
	})
	settled := time.Since(start)
	stop()
	wg.Wait()
	profiles.Wait()
	peak := rss.Stop()
	hookAfter := r.webhookLatency(t)
	require.Truef(t, ok, "outcomes of %d matching events: limited %+v, flood %+v", want, stLimited, stFlood)

	// Exactly one counted outcome per matching event and policy.
	for name, st := range map[string]v1alpha1.RemediationPolicyStatus{"limited": stLimited, "flood": stFlood} {
		sum := st.OutcomeSum()
		assert.Equalf(t, want, st.TotalEventsProcessed, "%s: one outcome per matching event", name)
		assert.Equalf(t, want, sum, "%s: counters add up: %+v", name, st)
		assert.Zerof(t, st.FailedRemediations, "%s: nothing failed", name)
	}
	perObject := r.deliveredObjects(ns, "limited")
	delivered := 0
	for obj, c := range perObject {
		delivered += c
		assert.Equalf(t, 1, c, "cooldown: %s delivered once", obj)
	}
	assert.Equal(t, int64(delivered), stLimited.AnalysesCompleted, "the stub got one request per analysis")
	// The bucket starts full and refills eventsPerMinute per minute.
	allowance := int(stormEventsPerMinute * (1 + settled.Minutes()))
	assert.LessOrEqual(t, delivered, allowance, "rate limit")
	assert.Positive(t, stLimited.RateLimitedEvents+stLimited.CooledDownEvents, "the limits held events back")
	floodDelivered := 0
	for _, c := range r.deliveredObjects(ns, "flood") {
		floodDelivered += c
	}
	assert.Equal(t, int64(floodDelivered), stFlood.AnalysesCompleted, "flood: delivered = analyses")
	assert.Positive(t, stFlood.DroppedEvents, "the flood filled the queue")
	assert.True(t, sawQueueFull.Load(), "flood: Ready=False/QueueFull while dropping")

	anon, file := rss.Parts()
	assert.Lessf(t, peak, r.sc.stormRSSMiB, "peak RSS MiB (largest sampled: anonymous %.0f MiB, file-backed %.0f MiB)", anon, file)
	// The controller's own answer time (controller_runtime_webhook_latency_
	// seconds, request decoded to response written), over the storm.
	var served, within uint64
	for path, after := range hookAfter {
		served += after.count - hookBefore[path].count
		within += after.within10ms - hookBefore[path].within10ms
	}
	require.Positive(t, served, "admission requests during the storm")
	withinShare := float64(within) / float64(served)
	require.NotEmpty(t, direct, "admission samples")
	p50, p99 := percentile(direct, 50), percentile(direct, 99)
	rt50, rt99 := percentile(roundTrip, 50), percentile(roundTrip, 99)
	r.figure(t, "%d Events (%d matching over %d Pods) created in %.1fs (%.0f/s, %d creators); all outcomes counted %.1fs after the start",
		n, want, len(pods), created.Seconds(), float64(n)/created.Seconds(), stormCreators, settled.Seconds())
	r.figure(t, "limited (eventsPerMinute %d, cooldown %dm): %d delivered to %d distinct Pods (allowance %d), %d rate-limited, %d cooled down, %d dropped; sum = %d matching",
		stormEventsPerMinute, stormCooldownMinutes, delivered, len(perObject), allowance, stLimited.RateLimitedEvents, stLimited.CooledDownEvents, stLimited.DroppedEvents, want)
	r.figure(t, "flood (no limits; concurrency %d, queue %d, MCP latency %s): %d delivered, %d dropped (queue full, Ready=False/QueueFull seen); sum = %d matching",
		stormConcurrency, stormQueueSize, stormMCPLatency, stFlood.AnalysesCompleted, stFlood.DroppedEvents, want)
	r.figure(t, "peak RSS %.0f MiB (bound %.0f MiB; largest sampled: anonymous %.0f MiB, file-backed %.0f MiB); admission during the storm: %.2f%% of %d admission requests answered by the controller within 10 ms "+
		"(its webhook latency histogram); seen by a client on this machine, straight to the webhook over TLS p50 %.2f ms, p99 %.2f ms (%d); "+
		"through the apiserver (dry-run create) p50 %.1f ms, p99 %.1f ms (%d)",
		peak, r.sc.stormRSSMiB, anon, file, 100*withinShare, served, ms(p50), ms(p99), len(direct), ms(rt50), ms(rt99), len(roundTrip))
	assert.GreaterOrEqual(t, withinShare, 0.99, "p99 of the controller's admission answers within 10 ms during the storm")
}

// storm creates n Events with stormCreators goroutines: every tenth is a
// matching Warning BackOff (round-robin over pods), the rest Normal Pulled
// events. It returns the matching events' names.
func (r *rel) storm(t *testing.T, pods []*corev1.Pod, n int) []string {
	t.Helper()
	var next atomic.Int64
	var failed atomic.Int64
	var mu sync.Mutex
	var matching []string
	var wg sync.WaitGroup
	for range stormCreators {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || t.Context().Err() != nil {
					return
				}
				name := fmt.Sprintf("storm-%d", i)
				var ev *corev1.Event
				if i%10 == 0 {
					ev = backOffEvent(pods[(i/10)%len(pods)], name)
				} else {
					ev = backOffEvent(pods[i%len(pods)], name)
					ev.Type, ev.Reason, ev.Message = corev1.EventTypeNormal, "Pulled", `Container image "localhost/app:1" already present on machine`
				}
				for attempt := 0; ; attempt++ {
					_, err := r.admin.CoreV1().Events(ev.Namespace).Create(context.Background(), ev, metav1.CreateOptions{})
					if err == nil || strings.Contains(err.Error(), "already exists") {
						break
					}
					if attempt == 50 {
						failed.Add(1)
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if i%10 == 0 {
					mu.Lock()
					matching = append(matching, name)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, failed.Load(), "every storm event was created")
	return matching
}

// deliveredObjects counts the stub's requests on behalf of policy ns/name
// per involved object.
func (r *rel) deliveredObjects(ns, name string) map[string]int {
	return r.policyRequestsBy(ns, name, func(q stubRequest) string { return q.involvedObject })
}

// admissionDirect sends AdmissionReviews of a valid policy straight to the
// controller's validating webhook (as the apiserver does, over TLS on a
// kept-alive connection) until ctx ends, and returns the latencies.
func (r *rel) admissionDirect(ctx context.Context, ns string) []time.Duration {
	var addr string
	for k, v := range r.ctrl.Services {
		if strings.Contains(k, "webhook") {
			addr = v
		}
	}
	if addr == "" {
		return nil
	}
	policy := &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "latency", Namespace: ns},
		Spec:       v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{{Type: "Warning", Reason: "BackOff"}}},
	}
	hc := insecureClient()
	var out []time.Duration
	for i := 0; ctx.Err() == nil; i++ {
		// A dry run: the controller's answer (defaults, validation, access
		// checks) without the admission record's write, which a stored
		// create adds (one apiserver write; docs/reliability.md).
		body, err := webhooktest.DryRunCreateReview(policy, types.UID(fmt.Sprintf("storm-%d", i)))
		if err != nil {
			return nil
		}
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+"/validate-remediation-dot-ai-io-v1alpha1-remediationpolicy", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		var got admissionv1.AdmissionReview
		derr := json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if derr != nil || got.Response == nil || !got.Response.Allowed {
			continue
		}
		out = append(out, time.Since(start))
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return out
}

// admissionRoundTrip makes server-side dry-run creates of a valid policy
// (defaulting and validating webhooks, through the apiserver) until ctx ends.
func (r *rel) admissionRoundTrip(ctx context.Context, ns string) []time.Duration {
	var out []time.Duration
	for i := 0; ctx.Err() == nil; i++ {
		p := &v1alpha1.RemediationPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("latency-%d", i), Namespace: ns},
			Spec:       v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{{Type: "Warning", Reason: "BackOff"}}},
		}
		start := time.Now()
		if err := r.fast.Create(ctx, p, client.DryRunAll); err == nil {
			out = append(out, time.Since(start))
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return out
}

// hookLatency is one webhook's admission count and how many were answered
// within 10 ms.
type hookLatency struct{ count, within10ms uint64 }

// webhookLatency reads the controller's controller_runtime_webhook_latency_
// seconds histogram per webhook path.
func (r *rel) webhookLatency(t *testing.T) map[string]hookLatency {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(r.scrape(t)))
	require.NoError(t, err)
	out := map[string]hookLatency{}
	fam := families["controller_runtime_webhook_latency_seconds"]
	require.NotNil(t, fam, "the controller exports its webhook latency")
	for _, m := range fam.GetMetric() {
		var path string
		for _, l := range m.GetLabel() {
			if l.GetName() == "webhook" {
				path = l.GetValue()
			}
		}
		h := hookLatency{count: m.GetHistogram().GetSampleCount()}
		for _, b := range m.GetHistogram().GetBucket() {
			if math.Abs(b.GetUpperBound()-0.01) < 1e-9 { // controller-runtime's 10 ms bucket (10 ns times powers of 10)
				h.within10ms = b.GetCumulativeCount()
			}
		}
		out[path] = h
	}
	return out
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
