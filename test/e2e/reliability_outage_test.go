//go:build e2e && reliability

package e2e

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp/mcptest"
)

// testOutage: the MCP endpoint refuses connections, then answers 503, then
// hangs, one phase each, while matching events keep arriving; then it
// recovers. Every event must be delivered after the recovery (analysis
// completed, nothing failed or dropped), retries must back off (the stub
// counts requests), the policy's Ready condition must show the outage and
// memory must stay bounded.
func (r *rel) testOutage(t *testing.T) {
	ns := r.namespace(t, "outage")
	pods := r.pods(t, ns, 20)
	p := r.policy(t, ns, "outage", unlimited)
	r.awaitReady(t, p)

	// Watch the Ready condition and the memory for the whole scenario.
	ctx, stop := context.WithCancel(t.Context())
	reasons := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			var cur v1alpha1.RemediationPolicy
			if err := r.c.Get(ctx, client.ObjectKeyFromObject(p), &cur); err == nil {
				if c := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionReady); c != nil {
					mu.Lock()
					reasons[c.Reason]++
					mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	rss := sampleRSS(r.ctrl)
	// A real Prometheus scrapes the controller and evaluates the chart's
	// rules (issue 21): DotAIMCPUnreachable fires during the outage and
	// resolves after it.
	prom := r.startPrometheus(t, r.ctrl.MetricsURL, r.scraperToken(t))
	require.Truef(t, waitUntil(t.Context(), 30*time.Second, func() bool { return prom.targetUp(t.Context()) }),
		"prometheus never scraped the controller; log: %s", prom.log)
	alerts := prom.watchAlerts(t.Context())

	n := r.sc.outageEvents
	phase := r.sc.outagePhase
	perSecond := float64(n) / (3 * phase.Seconds())
	before := r.stub.Count()
	var at503, atHang int
	require.NoError(t, r.stub.Down())
	phases := map[int]func(){
		n / 3: func() { // refused -> 503
			r.stub.SetOverride(&mcptest.Reply{Status: http.StatusServiceUnavailable, Body: mcptest.ErrorEnvelope("SERVICE_UNAVAILABLE", "outage")})
			at503 = r.stub.Count()
			require.NoError(t, r.stub.Up())
		},
		2 * n / 3: func() { // 503 -> hang (longer than mcp.timeout=3s)
			r.stub.SetOverride(&mcptest.Reply{Delay: time.Hour})
			atHang = r.stub.Count()
		},
	}
	start := time.Now()
	names := r.stream(t, pods, "outage", n, perSecond, func(i int) {
		if f := phases[i]; f != nil {
			f()
		}
	})
	// The hang phase lasts its full length, then the endpoint recovers.
	time.Sleep(time.Until(start.Add(3 * phase)))
	end := r.stub.Count()
	outageRequests := end - before
	outage := time.Since(start)
	r.stub.SetOverride(nil)
	recovered := time.Now()

	var st v1alpha1.RemediationPolicyStatus
	ok := waitUntil(t.Context(), 3*time.Minute, func() bool {
		st = r.getPolicy(t, p).Status
		return st.TotalEventsProcessed >= int64(n)
	})
	deliveredIn := time.Since(recovered)
	stop()
	wg.Wait()
	peak := rss.Stop()
	resolved := waitUntil(t.Context(), time.Minute, func() bool {
		states, err := prom.alertStates(t.Context())
		return err == nil && states[mcpAlert] == ""
	})
	resolvedIn := time.Since(recovered)
	alerts.Stop()
	prom.stop()
	require.Truef(t, ok, "only %d of %d events reached an outcome after the recovery: %+v", st.TotalEventsProcessed, n, st)
	fired, firedOK := alerts.firstFiring[mcpAlert]
	assert.Truef(t, firedOK && fired.Before(recovered), "%s fired during the outage (fired: %s; log %s)", mcpAlert, alertNames(alerts.firstFiring), prom.log)
	assert.Truef(t, resolved, "%s resolved after the recovery", mcpAlert)
	assert.Equal(t, int64(n), st.AnalysesCompleted, "every event delivered after the recovery: %+v", st)
	assert.Zero(t, st.FailedRemediations)
	assert.Zero(t, st.DroppedEvents, "%d events are well within the queue bound", n)
	got := r.received(ns)
	for _, name := range names {
		assert.Containsf(t, got, name, "event %s reached the MCP", name)
	}
	mu.Lock()
	sawOutage := reasons[v1alpha1.ReasonMCPUnreachable]
	mu.Unlock()
	assert.Positive(t, sawOutage, "Ready showed MCPUnreachable during the outage (seen: %v)", reasons)
	r.awaitReady(t, p) // Active again once calls succeed
	// No hot loop: without backoff, 3 phases of retries by up to 128
	// workers would be thousands of requests.
	assert.LessOrEqual(t, outageRequests, 2*n, "requests during the outage")
	assert.Equal(t, before, at503, "refused: nothing reached the stub")
	assert.Positive(t, atHang-at503, "the 503 phase was tried")
	assert.Positive(t, end-atHang, "the hang phase was tried")
	assert.Less(t, peak, 200.0, "peak RSS MiB")
	r.figure(t, "%d events over a %.0fs outage (refused, 503, hang; %s each): all %d delivered %.1fs after recovery, 0 failed, 0 dropped; requests reaching the stub: %d answered 503, %d hung (%.2f/s over the outage, breaker cooldown 5s; refused attempts never reach it); Ready=False/MCPUnreachable in %d status samples; peak RSS %.0f MiB",
		n, outage.Seconds(), phase, n, deliveredIn.Seconds(), atHang-at503, end-atHang, float64(outageRequests)/outage.Seconds(), sawOutage, peak)
	r.figure(t, "a real Prometheus (scrape and evaluation every 1s, the chart's rules with for: %s) fired %s %.1fs into the outage; it was last active %.1fs after the recovery (the breaker's next probe, cooldown 5s) and gone by %.1fs (alerts that fired: %s)",
		promFor, mcpAlert, fired.Sub(start).Seconds(), alerts.lastActive[mcpAlert].Sub(recovered).Seconds(), resolvedIn.Seconds(), alertNames(alerts.firstFiring))
}

// mcpAlert is the chart's alert for an open MCP circuit breaker.
const mcpAlert = "DotAIMCPUnreachable"
