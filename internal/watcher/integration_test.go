package watcher

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/testenv"
)

func TestIntegration(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	ctx := context.Background()
	createNamespace(t, c, "dot-ai", nil)

	status := func(p *v1alpha1.RemediationPolicy) v1alpha1.RemediationPolicyStatus {
		var cur v1alpha1.RemediationPolicy
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), &cur))
		return cur.Status
	}
	assertAddsUp := func(t *testing.T, st v1alpha1.RemediationPolicyStatus) {
		t.Helper()
		assert.Equal(t, st.TotalEventsProcessed, st.OutcomeSum(), "counters add up: %+v", st)
	}

	t.Run("matching events are delivered and others not", func(t *testing.T) {
		createNamespace(t, c, "match-other", nil)
		f := newFixture(t, env, "match", v1alpha1.EventSelector{Type: "Warning", Reason: "BackOff", InvolvedObjectKind: "Pod"},
			withSettings(func(s *config.Settings) { s.MCPEndpoint = "http://127.0.0.1:1/api/v1/tools/remediate" }))
		p, rec, h, s, r := f.policy, f.rec, f.seen, f.settings, f.run

		hit := createEvent(t, c, "match", "hit", "Warning", "BackOff", "Pod", "web-1")
		createEvent(t, c, "match", "normal", "Normal", "BackOff", "Pod", "web-1")
		createEvent(t, c, "match", "failed", "Warning", "Failed", "Pod", "web-1")
		createEvent(t, c, "match", "deploy", "Warning", "BackOff", "Deployment", "web")
		createEvent(t, c, "match-other", "elsewhere", "Warning", "BackOff", "Pod", "web-1")
		for _, n := range []string{"hit", "normal", "failed", "deploy"} {
			h.wait(t, "match", n)
		}
		h.wait(t, "match-other", "elsewhere")
		require.Eventually(t, func() bool { return len(rec.events()) == 1 }, 10*time.Second, 10*time.Millisecond)
		assert.Equal(t, []string{"hit"}, rec.events())
		req := rec.requests()[0]
		var cur v1alpha1.RemediationPolicy
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), &cur))
		assert.Equal(t, string(cur.UID)+"/"+string(hit.UID)+"/1", req.OccurrenceKey)
		assert.Equal(t, v1alpha1.ModeManual, req.Effective.Mode)
		assert.True(t, r.w.eventSet.has(hit.UID), "the Event is known to exist")

		// A bumped count is a new occurrence (no cooldown here); an update
		// without a new count is deduplicated.
		hit.Count = 2
		hit.LastTimestamp = metav1.Now()
		require.NoError(t, c.Update(ctx, hit))
		require.Eventually(t, func() bool { return len(rec.events()) == 2 }, 10*time.Second, 10*time.Millisecond)
		assert.True(t, strings.HasSuffix(rec.requests()[1].OccurrenceKey, "/2"))
		hit.Message = "edited"
		require.NoError(t, c.Update(ctx, hit))
		marker := createEvent(t, c, "match", "marker", "Warning", "BackOff", "Pod", "web-2")
		require.Eventually(t, func() bool { return slices.Contains(rec.events(), marker.Name) }, 10*time.Second, 10*time.Millisecond)
		assert.Len(t, rec.events(), 3, "the edited event was not delivered again")

		require.Eventually(t, func() bool { return status(p).AnalysesCompleted == 3 }, 10*time.Second, 20*time.Millisecond)
		st := status(p)
		assert.Equal(t, int64(3), st.TotalEventsProcessed)
		assert.Equal(t, s.MCPEndpoint, st.EffectiveMcpEndpoint)
		assert.Equal(t, cur.Generation, st.ObservedGeneration)
		assert.Len(t, st.RecentOutcomes, 3)
		assert.Equal(t, "match/marker", st.RecentOutcomes[0].Event, "newest first")
		assert.NotNil(t, st.LastProcessedEvent)
		assertAddsUp(t, st)
	})

	t.Run("suspend and resume", func(t *testing.T) {
		f := newFixture(t, env, "suspend", v1alpha1.EventSelector{Reason: "BackOff"})
		p, rec, h := f.policy, f.rec, f.seen

		updatePolicy(t, c, p, func(p *v1alpha1.RemediationPolicy) { p.Spec.Suspend = new(true) })
		waitReason(t, c, p, v1alpha1.ReasonSuspended)
		createEvent(t, c, "suspend", "while-suspended", "Warning", "BackOff", "Pod", "a")
		h.wait(t, "suspend", "while-suspended")

		updatePolicy(t, c, p, func(p *v1alpha1.RemediationPolicy) { p.Spec.Suspend = new(false) })
		waitReason(t, c, p, v1alpha1.ReasonActive)
		createEvent(t, c, "suspend", "after-resume", "Warning", "BackOff", "Pod", "b")
		require.Eventually(t, func() bool { return slices.Contains(rec.events(), "after-resume") }, 10*time.Second, 10*time.Millisecond)
		assert.Equal(t, []string{"after-resume"}, rec.events(), "events of the suspended period are not delivered later")
	})

	t.Run("a policy edit applies to the next event", func(t *testing.T) {
		f := newFixture(t, env, "edit", v1alpha1.EventSelector{Reason: "FailedScheduling"})
		p, rec, h := f.policy, f.rec, f.seen

		createEvent(t, c, "edit", "before", "Warning", "FailedMount", "Pod", "a")
		h.wait(t, "edit", "before")
		assert.Empty(t, rec.events())

		updatePolicy(t, c, p, func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Reason = "FailedMount" })
		waitReason(t, c, p, v1alpha1.ReasonActive) // observedGeneration caught up
		createEvent(t, c, "edit", "after", "Warning", "FailedMount", "Pod", "b")
		require.Eventually(t, func() bool { return slices.Contains(rec.events(), "after") }, 10*time.Second, 10*time.Millisecond)

		// An invalid edit (bad regex passes the CRD schema) stops the policy.
		updatePolicy(t, c, p, func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Message = "(" })
		waitReason(t, c, p, v1alpha1.ReasonInvalidSpec)
		createEvent(t, c, "edit", "while-invalid", "Warning", "FailedMount", "Pod", "c")
		h.wait(t, "edit", "while-invalid")
		assert.Equal(t, []string{"after"}, rec.events())
	})

	bypassed := []struct {
		name, ns string
		mutate   func(p *v1alpha1.RemediationPolicy)
	}{
		{"a policy that bypassed admission is InvalidSpec", "bypass", func(p *v1alpha1.RemediationPolicy) {
			p.Spec.McpEndpoint = "http://127.0.0.1:9/api/v1/tools/remediate" // not allowed, no own Secret
		}},
		{"automatic mode outside the guardrails' namespaces that bypassed admission is InvalidSpec", "bypass-auto", func(p *v1alpha1.RemediationPolicy) {
			p.Spec.Mode = v1alpha1.ModeAutomatic
		}},
	}
	for _, tc := range bypassed {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, env, tc.ns, v1alpha1.EventSelector{Type: "Warning"},
				withPolicy(tc.mutate), expectReason(v1alpha1.ReasonInvalidSpec))
			createEvent(t, c, tc.ns, "ignored", "Warning", "BackOff", "Pod", "a")
			f.seen.wait(t, tc.ns, "ignored")
			assert.Empty(t, f.rec.events())
		})
	}

	t.Run("excluded events are not the policy's", func(t *testing.T) {
		f := newFixture(t, env, "exclude", v1alpha1.EventSelector{Type: "Warning"},
			withPolicy(func(p *v1alpha1.RemediationPolicy) {
				p.Spec.ExcludeSelectors = []v1alpha1.EventSelector{
					{Reason: "Unhealthy", Message: "^Readiness probe failed"},
					{InvolvedObjectKind: "Job"},
				}
			}),
			beforeStart(func() { createPod(t, c, "exclude", "a") }))
		createEvent(t, c, "exclude", "probe", "Warning", "Unhealthy", "Pod", "a") // another message: not excluded
		createEvent(t, c, "exclude", "rollout", "Warning", "Unhealthy", "Pod", "a", func(ev *corev1.Event) { ev.Message = "Readiness probe failed: 503" })
		createEvent(t, c, "exclude", "job", "Warning", "BackoffLimitExceeded", "Job", "noisy")
		createEvent(t, c, "exclude", "crash", "Warning", "BackOff", "Pod", "a")
		for _, name := range []string{"probe", "rollout", "job", "crash"} {
			f.seen.wait(t, "exclude", name)
		}
		require.Eventually(t, func() bool { return status(f.policy).TotalEventsProcessed == 2 }, 10*time.Second, 20*time.Millisecond)
		assert.ElementsMatch(t, []string{"probe", "crash"}, f.rec.events(), "excluded events are neither delivered")
		st := status(f.policy)
		assert.Equal(t, int64(2), st.TotalEventsProcessed, "nor counted")
		assertAddsUp(t, st)
	})

	t.Run("recurrence threshold: below, at, and across a restart mid-window", func(t *testing.T) {
		f := newFixture(t, env, "recur", v1alpha1.EventSelector{Type: "Warning"},
			withPolicy(func(p *v1alpha1.RemediationPolicy) {
				p.Spec.MinOccurrences, p.Spec.OccurrenceWindowSeconds = new(int32(3)), new(int32(600))
				p.Spec.RateLimiting.CooldownMinutes = new(int32(0))
			}),
			beforeStart(func() { createPod(t, c, "recur", "a") }))
		msg := func(m string) evOpt { return func(ev *corev1.Event) { ev.Message = m } }
		createEvent(t, c, "recur", "e1", "Warning", "BackOff", "Pod", "a", msg("Back-off restarting failed container"))
		createEvent(t, c, "recur", "e2", "Warning", "BackOff", "Pod", "a", msg("Back-off restarting failed container"))
		require.Eventually(t, func() bool { return status(f.policy).BelowThresholdEvents == 2 }, 10*time.Second, 20*time.Millisecond)
		assert.Empty(t, f.rec.events(), "below the threshold: nothing delivered")

		// A restart mid-window keeps the two occurrences counted.
		f.run.stop(t)
		rec := &recorder{}
		h := newSeenHook()
		r := startWatcher(t, env.Config, f.settings, rec, h.hook)
		defer r.stop(t)
		createEvent(t, c, "recur", "e3", "Warning", "BackOff", "Pod", "a", msg("Back-off restarting failed container"))
		require.Eventually(t, func() bool { return len(rec.events()) == 1 }, 10*time.Second, 20*time.Millisecond)
		assert.Equal(t, []string{"e3"}, rec.events(), "the third occurrence within the window is delivered")

		// The count starts over; another problem (message) counts on its own.
		createEvent(t, c, "recur", "e4", "Warning", "BackOff", "Pod", "a", msg("Back-off restarting failed container"))
		createEvent(t, c, "recur", "other", "Warning", "BackOff", "Pod", "a", msg("another message"))
		h.wait(t, "recur", "e4")
		h.wait(t, "recur", "other")
		require.Eventually(t, func() bool { return status(f.policy).TotalEventsProcessed == 5 }, 10*time.Second, 20*time.Millisecond)
		st := status(f.policy)
		assert.Equal(t, int64(4), st.BelowThresholdEvents)
		assert.Equal(t, int64(1), st.AnalysesCompleted)
		assertAddsUp(t, st)
		assert.Equal(t, []string{"e3"}, rec.events())
	})

	t.Run("a CronJob's pods share one cooldown", func(t *testing.T) {
		f := newFixture(t, env, "cron", v1alpha1.EventSelector{Type: "Warning"},
			withPolicy(func(p *v1alpha1.RemediationPolicy) { p.Spec.RateLimiting.CooldownMinutes = new(int32(5)) }),
			beforeStart(func() {
				podSpec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}
				cj := &batchv1.CronJob{
					ObjectMeta: metav1.ObjectMeta{Namespace: "cron", Name: "nightly"},
					Spec: batchv1.CronJobSpec{Schedule: "0 1 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
						Template: corev1.PodTemplateSpec{Spec: podSpec}}}},
				}
				require.NoError(t, c.Create(ctx, cj))
				for _, run := range []string{"a", "b"} {
					job := &batchv1.Job{
						ObjectMeta: metav1.ObjectMeta{Namespace: "cron", Name: "job-" + run, OwnerReferences: []metav1.OwnerReference{{
							APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: new(true)}}},
						Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: podSpec}},
					}
					require.NoError(t, c.Create(ctx, job))
					pod := &corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Namespace: "cron", Name: "run-" + run, OwnerReferences: []metav1.OwnerReference{{
							APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: new(true)}}},
						Spec: podSpec,
					}
					require.NoError(t, c.Create(ctx, pod))
				}
			}))
		p, rec, h := f.policy, f.rec, f.seen

		createEvent(t, c, "cron", "run-a.backoff", "Warning", "BackOff", "Pod", "run-a")
		require.Eventually(t, func() bool { return len(rec.events()) == 1 }, 10*time.Second, 10*time.Millisecond)
		createEvent(t, c, "cron", "run-b.backoff", "Warning", "BackOff", "Pod", "run-b")
		h.wait(t, "cron", "run-b.backoff")
		createEvent(t, c, "cron", "run-b.failed", "Warning", "FailedMount", "Pod", "run-b")
		require.Eventually(t, func() bool { return len(rec.events()) == 2 }, 10*time.Second, 10*time.Millisecond)
		assert.Equal(t, []string{"run-a.backoff", "run-b.failed"}, rec.events(), "same CronJob and reason: cooled down; other reason: delivered")

		require.Eventually(t, func() bool { return status(p).TotalEventsProcessed == 3 }, 10*time.Second, 20*time.Millisecond)
		st := status(p)
		assert.Equal(t, int64(1), st.CooledDownEvents)
		assert.Equal(t, int64(2), st.AnalysesCompleted)
		assertAddsUp(t, st)
	})

	t.Run("CEL expression selects", func(t *testing.T) {
		f := newFixture(t, env, "cel", v1alpha1.EventSelector{Expression: `event.reason == "BackOff" && event.count >= 3`})
		p, rec, h := f.policy, f.rec, f.seen
		createEvent(t, c, "cel", "low", "Warning", "BackOff", "Pod", "a")
		h.wait(t, "cel", "low")
		createEvent(t, c, "cel", "high", "Warning", "BackOff", "Pod", "b", func(e *corev1.Event) { e.Count = 5 })
		require.Eventually(t, func() bool { return len(rec.events()) == 1 }, 10*time.Second, 10*time.Millisecond)
		assert.Equal(t, []string{"high"}, rec.events())

		updatePolicy(t, c, p, func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Expression = "event.reason" })
		waitReason(t, c, p, v1alpha1.ReasonInvalidSpec)
	})

	t.Run("rate limit, MCP condition and counters", func(t *testing.T) {
		rec := &recorder{result: func(delivery.Request) delivery.Result {
			return delivery.Result{
				Outcome:         v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeDeliveryFailed, Message: "connection refused"},
				ConditionReason: v1alpha1.ReasonMCPUnreachable, ConditionMessage: "dial tcp 127.0.0.1:1: connection refused",
			}
		}}
		f := newFixture(t, env, "limits", v1alpha1.EventSelector{Type: "Warning"}, withRecorder(rec),
			withPolicy(func(p *v1alpha1.RemediationPolicy) { p.Spec.RateLimiting.EventsPerMinute = new(int32(2)) }))
		p := f.policy
		for _, n := range []string{"e1", "e2", "e3", "e4", "e5"} {
			createEvent(t, c, "limits", n, "Warning", "BackOff", "Pod", n)
		}
		require.Eventually(t, func() bool { return status(p).TotalEventsProcessed == 5 }, 10*time.Second, 20*time.Millisecond)
		st := status(p)
		assert.Equal(t, int64(3), st.RateLimitedEvents)
		assert.Equal(t, int64(2), st.FailedRemediations)
		assertAddsUp(t, st)
		waitReason(t, c, p, v1alpha1.ReasonMCPUnreachable)
	})

	t.Run("Delivering turns False after failing deliveries and recovers", func(t *testing.T) { testDeliveringCondition(t, env) })

	t.Run("the related-events index follows the watch", func(t *testing.T) { testEventIndex(t, env) })

	t.Run("queue full drops and is reported", func(t *testing.T) {
		release := make(chan struct{})
		rec := &recorder{result: func(delivery.Request) delivery.Result {
			<-release
			return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeAnalysisCompleted}}
		}}
		f := newFixture(t, env, "full", v1alpha1.EventSelector{Type: "Warning"}, withRecorder(rec),
			withSettings(func(s *config.Settings) { s.Concurrency, s.QueueSize = 1, 1 }))
		p, h := f.policy, f.seen
		for _, n := range []string{"q1", "q2", "q3", "q4", "q5"} {
			createEvent(t, c, "full", n, "Warning", "BackOff", "Pod", n)
			h.wait(t, "full", n)
		}
		waitReason(t, c, p, v1alpha1.ReasonQueueFull)
		close(release)
		require.Eventually(t, func() bool { return status(p).TotalEventsProcessed == 5 }, 10*time.Second, 20*time.Millisecond)
		st := status(p)
		assert.Equal(t, int64(3), st.DroppedEvents, "one in flight, one queued, three dropped")
		assert.Equal(t, int64(2), st.AnalysesCompleted)
		assertAddsUp(t, st)
	})

	t.Run("an unreachable endpoint holds events within the bound", func(t *testing.T) {
		var down atomic.Bool
		down.Store(true)
		rec := &recorder{result: func(delivery.Request) delivery.Result {
			if down.Load() {
				return delivery.Result{RequeueAfter: 50 * time.Millisecond, ConditionReason: v1alpha1.ReasonMCPUnreachable,
					ConditionMessage: "connection refused; events stay queued and are retried"}
			}
			return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeAnalysisCompleted}}
		}}
		f := newFixture(t, env, "outage", v1alpha1.EventSelector{Type: "Warning"}, withRecorder(rec),
			withSettings(func(s *config.Settings) {
				s.Concurrency, s.QueueSize = 1, 1 // at most 2 admitted: queued, in flight or held
			}))
		p, h, r := f.policy, f.seen, f.run
		for _, n := range []string{"o1", "o2", "o3", "o4"} {
			createEvent(t, c, "outage", n, "Warning", "BackOff", "Pod", n)
			h.wait(t, "outage", n)
		}
		waitReason(t, c, p, v1alpha1.ReasonMCPUnreachable)
		require.Eventually(t, func() bool { return status(p).DroppedEvents == 2 }, 10*time.Second, 20*time.Millisecond)
		calls := rec.calls.Load()
		require.Eventually(t, func() bool { return rec.calls.Load() > calls+2 }, 10*time.Second, 20*time.Millisecond, "held events are offered again")
		assert.Equal(t, int64(2), status(p).TotalEventsProcessed, "held events have no outcome yet")

		down.Store(false)
		require.Eventually(t, func() bool { return status(p).AnalysesCompleted == 2 }, 10*time.Second, 20*time.Millisecond)
		waitReason(t, c, p, v1alpha1.ReasonActive)
		st := status(p)
		assert.Equal(t, int64(4), st.TotalEventsProcessed)
		assertAddsUp(t, st)
		assert.Equal(t, int64(0), r.w.admitted.Load(), "every admitted slot was released")
	})

	t.Run("shutdown drains in-flight deliveries up to the drain timeout", func(t *testing.T) {
		rec := &recorder{delay: time.Second}
		f := newFixture(t, env, "drain", v1alpha1.EventSelector{Type: "Warning"}, withRecorder(rec),
			withSettings(func(s *config.Settings) { s.DrainTimeout = 20 * time.Second }),
			beforeStart(func() { createPod(t, c, "drain", "a") }))
		p, s, r := f.policy, f.settings, f.run
		createEvent(t, c, "drain", "slow", "Warning", "BackOff", "Pod", "a")
		require.Eventually(t, func() bool { return rec.calls.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
		r.stop(t) // returns after the in-flight call finished and status was written
		assert.Equal(t, []string{"slow"}, rec.events())
		assert.Equal(t, int64(1), status(p).AnalysesCompleted)

		// A call still running when the drain timeout ends is not counted
		// and is delivered again after the restart.
		s.DrainTimeout = 100 * time.Millisecond
		stuck := &recorder{delay: time.Hour}
		r = startWatcher(t, env.Config, s, stuck, nil)
		createEvent(t, c, "drain", "stuck", "Warning", "BackOff", "Pod", "a")
		require.Eventually(t, func() bool { return stuck.calls.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
		r.stop(t)
		assert.Equal(t, int64(1), status(p).TotalEventsProcessed)
		again := &recorder{}
		r = startWatcher(t, env.Config, testSettings(), again, nil)
		defer r.stop(t)
		require.Eventually(t, func() bool { return slices.Contains(again.events(), "stuck") }, 10*time.Second, 10*time.Millisecond)
		assert.Equal(t, []string{"stuck"}, again.events())
	})

	t.Run("events created while down are delivered on start", func(t *testing.T) {
		// A second policy with a cooldown and a bucket of 2/min: both survive
		// the restart.
		cd := newPolicy("down", "cd", v1alpha1.EventSelector{Type: "Normal", Reason: "Cool"})
		cd.Spec.RateLimiting = &v1alpha1.RateLimiting{EventsPerMinute: new(int32(2)), CooldownMinutes: new(int32(5))}
		f := newFixture(t, env, "down", v1alpha1.EventSelector{Type: "Warning"}, beforeStart(func() {
			createPod(t, c, "down", "alive")
			require.NoError(t, c.Create(ctx, cd))
		}))
		p, rec, r := f.policy, f.rec, f.run
		waitReason(t, c, cd, v1alpha1.ReasonActive)
		createEvent(t, c, "down", "before-stop", "Warning", "BackOff", "Pod", "alive")
		createEvent(t, c, "down", "cool-1", "Normal", "Cool", "Pod", "alive")
		createEvent(t, c, "down", "cool-other-1", "Normal", "Cool", "Pod", "other-a")
		require.Eventually(t, func() bool { return len(rec.events()) == 3 }, 10*time.Second, 10*time.Millisecond)
		r.stop(t)

		createEvent(t, c, "down", "while-down", "Warning", "BackOff", "Pod", "alive")
		createEvent(t, c, "down", "gone", "Warning", "BackOff", "Pod", "deleted-pod")
		createEvent(t, c, "down", "cool-2", "Normal", "Cool", "Pod", "alive")
		rec2 := &recorder{}
		r2 := startWatcher(t, env.Config, testSettings(), rec2, nil)
		defer r2.stop(t)
		require.Eventually(t, func() bool { return status(p).TotalEventsProcessed == 3 }, 10*time.Second, 20*time.Millisecond)
		assert.Equal(t, []string{"while-down"}, rec2.events(), "handled one not replayed, gone object skipped, cooldown kept")
		st := status(p)
		assert.Equal(t, int64(1), st.SkippedEvents)
		assert.Equal(t, int64(2), st.AnalysesCompleted)
		assertAddsUp(t, st)
		require.Eventually(t, func() bool { return status(cd).TotalEventsProcessed == 3 }, 10*time.Second, 20*time.Millisecond)
		assert.Equal(t, int64(1), status(cd).CooledDownEvents, "cooldown survived the restart")

		// The bucket (2/min) was emptied before the restart: a new object's
		// event is rate-limited, not delivered.
		createEvent(t, c, "down", "cool-other-2", "Normal", "Cool", "Pod", "other-b")
		require.Eventually(t, func() bool { return status(cd).TotalEventsProcessed == 4 }, 10*time.Second, 20*time.Millisecond)
		assert.Equal(t, int64(1), status(cd).RateLimitedEvents, "token bucket survived the restart")
		assertAddsUp(t, status(cd))
	})
}
