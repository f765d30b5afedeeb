package watcher

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/delivery/dotai"
	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/internal/remediation"
	"dot-ai.io/controller/internal/state"
	"dot-ai.io/controller/internal/testenv"
)

// The write-ahead intent of automatic-mode calls (decision 17 (docs/design/decisions.md#d17)
// (docs/design/decisions.md#d17)), tested with the real dot-ai deliverer and
// a stub MCP server on 127.0.0.1 that can hang.

// intentSettings send to url and allow automatic mode everywhere.
func intentSettings(url string) *config.Settings {
	s := testSettings()
	s.MCPEndpoint = url
	s.Guardrails.AutomaticModeNamespaces = []string{config.AllNamespaces}
	s.Guardrails.MaxRiskLevel = v1alpha1.RiskHigh
	return s
}

// newDotai is the controller's own deliverer against s's endpoint.
func newDotai(t testing.TB, cfg *rest.Config, s *config.Settings) delivery.Deliverer {
	t.Helper()
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	c, err := mcp.New(mcp.Options{Timeout: time.Hour})
	require.NoError(t, err)
	reader, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	require.NoError(t, err)
	return dotai.New(dotai.Options{Settings: s, Client: c, Secrets: reader,
		Enricher: enricher.New(enricher.Options{Kube: kube, Events: enricher.APIEvents{Client: kube}})})
}

// hangingStub answers nothing until the test ends or the caller goes away.
func hangingStub(t testing.TB) *mcptest.Server {
	stub := mcptest.New(mcptest.Options{})
	require.NoError(t, stub.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = stub.Close() })
	stub.SetOverride(&mcptest.Reply{Delay: time.Hour})
	return stub
}

// keysAt counts the requests the stub received per Idempotency-Key.
func keysAt(stub *mcptest.Server) map[string]int {
	out := map[string]int{}
	for _, r := range stub.Requests() {
		out[r.Header.Get(mcp.IdempotencyHeader)]++
	}
	return out
}

// recordsIn lists the Remediation records of namespace ns by phase.
func recordsIn(t testing.TB, c client.Client, ns string) map[v1alpha1.RemediationPhase][]v1alpha1.Remediation {
	t.Helper()
	var list v1alpha1.RemediationList
	require.NoError(t, c.List(context.Background(), &list, client.InNamespace(ns)))
	out := map[v1alpha1.RemediationPhase][]v1alpha1.Remediation{}
	for _, r := range list.Items {
		out[r.EffectivePhase()] = append(out[r.EffectivePhase()], r)
	}
	return out
}

// noIntents asserts that no ControllerState intent is written any more.
func noIntents(t testing.TB, c client.Client) {
	t.Helper()
	var list v1alpha1.ControllerStateList
	require.NoError(t, c.List(context.Background(), &list, client.MatchingLabels{state.LabelComponent: state.ComponentIntent}))
	assert.Empty(t, list.Items, "records are the intents: no ControllerState intent is written")
}

// TestDrainTimeoutByMode: a call still in flight when the drain timeout ends
// is sent again by the next leader in manual mode (same Idempotency-Key),
// and in automatic mode ends as Interrupted and is never sent again.
func TestDrainTimeoutByMode(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	createNamespace(t, c, "dot-ai", nil)
	status := func(p *v1alpha1.RemediationPolicy) v1alpha1.RemediationPolicyStatus {
		var cur v1alpha1.RemediationPolicy
		require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(p), &cur))
		return cur.Status
	}
	for _, mode := range []v1alpha1.RemediationMode{v1alpha1.ModeManual, v1alpha1.ModeAutomatic} {
		t.Run(string(mode), func(t *testing.T) {
			ns := "drain-" + string(mode)
			stub := hangingStub(t)
			s := intentSettings(stub.URL())
			s.DrainTimeout = 300 * time.Millisecond
			createNamespace(t, c, ns, nil)
			createPod(t, c, ns, "a")
			p := newPolicy(ns, "p", v1alpha1.EventSelector{Type: "Warning"})
			p.Spec.Mode = mode
			require.NoError(t, c.Create(context.Background(), p))

			r := startWatcher(t, env.Config, s, newDotai(t, env.Config, s), nil)
			waitReason(t, c, p, v1alpha1.ReasonActive)
			createEvent(t, c, ns, "stuck", "Warning", "BackOff", "Pod", "a")
			require.Eventually(t, func() bool { return stub.Count() == 1 }, 20*time.Second, 10*time.Millisecond)
			r.stop(t) // the drain timeout cuts the hanging call off
			firstKey := stub.Requests()[0].Header.Get(mcp.IdempotencyHeader)
			require.NotEmpty(t, firstKey)

			stub.SetOverride(nil) // dot-ai answers again
			r = startWatcher(t, env.Config, s, newDotai(t, env.Config, s), nil)
			defer r.stop(t)
			// A later event shows the new leader is delivering.
			createEvent(t, c, ns, "later", "Warning", "BackOff", "Pod", "a")
			require.Eventually(t, func() bool { return status(p).TotalEventsProcessed == 2 }, 20*time.Second, 20*time.Millisecond)
			st := status(p)
			assert.Equal(t, st.TotalEventsProcessed, st.OutcomeSum(), "counters add up: %+v", st.OutcomeCounts)
			keys := keysAt(stub)
			if mode == v1alpha1.ModeManual {
				assert.Equal(t, 2, keys[firstKey], "a manual analysis is sent again with the same Idempotency-Key")
				assert.Equal(t, 3, stub.Count())
				assert.Equal(t, int64(2), st.AnalysesCompleted)
				assert.Zero(t, st.InterruptedRemediations)
			} else {
				assert.Equal(t, 1, keys[firstKey], "an automatic call is never sent twice")
				assert.Equal(t, 2, stub.Count())
				assert.Equal(t, int64(1), st.InterruptedRemediations)
				var interrupted *v1alpha1.RemediationOutcome
				for i := range st.RecentOutcomes {
					if st.RecentOutcomes[i].Result == v1alpha1.OutcomeInterrupted {
						interrupted = &st.RecentOutcomes[i]
					}
				}
				require.NotNil(t, interrupted, "the recent outcomes name the interrupted call")
				assert.Equal(t, ns+"/stuck", interrupted.Event)
				assert.Contains(t, interrupted.Message, firstKey, "how to find it in dot-ai")
				assert.Equal(t, remediation.Name(firstKey), interrupted.Remediation, "the outcome names its record")
			}
			recs := recordsIn(t, c, ns)
			name := remediation.Name(firstKey)
			if mode == v1alpha1.ModeManual {
				require.Len(t, recs[v1alpha1.PhaseAwaitingApproval], 2, "%v", recs)
				assert.Len(t, recs, 1, "the re-sent analysis updated its record, no other phase: %v", recs)
			} else {
				require.Len(t, recs[v1alpha1.PhaseInterrupted], 1, "%v", recs)
				got := recs[v1alpha1.PhaseInterrupted][0]
				assert.Equal(t, name, got.Name, "named from the Idempotency-Key")
				assert.Contains(t, got.Status.Message, firstKey, "how to find it in dot-ai")
				assert.Empty(t, recs[v1alpha1.PhaseExecuting])
			}
			noIntents(t, c)
		})
	}
}

// TestInterruptedAcrossSIGKILL: a child controller is SIGKILLed while its
// automatic-mode call hangs at the stub; the restarted one finds the intent,
// counts the occurrence as Interrupted and never sends it again.
func TestInterruptedAcrossSIGKILL(t *testing.T) {
	f := newKillFixture(t, "sigkill-auto")
	c := f.client
	stub := hangingStub(t)
	var p v1alpha1.RemediationPolicy
	require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(f.policy), &p))
	p.Spec.Mode = v1alpha1.ModeAutomatic
	require.NoError(t, c.Update(context.Background(), &p))

	first := startChild(t, f.kubeconfig, stub.URL(), envDotai+"=1")
	require.Eventually(t, func() bool {
		var cur v1alpha1.RemediationPolicy
		return c.Get(context.Background(), client.ObjectKeyFromObject(&p), &cur) == nil && cur.Status.ObservedGeneration == cur.Generation
	}, 30*time.Second, 20*time.Millisecond, "the child acts on the automatic-mode generation")
	createEvent(t, c, f.ns, "hangs", "Warning", "BackOff", "Pod", "victim")
	require.Eventually(t, func() bool { return stub.Count() == 1 }, 30*time.Second, 10*time.Millisecond)
	executing := recordsIn(t, c, f.ns)[v1alpha1.PhaseExecuting]
	require.Len(t, executing, 1, "the record was written before the request left")
	assert.Empty(t, executing[0].Status.Phase, "in flight: created, its status is written with the answer")
	first.kill(t)
	key := stub.Requests()[0].Header.Get(mcp.IdempotencyHeader)

	stub.SetOverride(nil)
	startChild(t, f.kubeconfig, stub.URL(), envDotai+"=1")
	createEvent(t, c, f.ns, "after", "Warning", "BackOff", "Pod", "victim")
	var st v1alpha1.RemediationPolicyStatus
	require.Eventually(t, func() bool {
		var cur v1alpha1.RemediationPolicy
		if c.Get(context.Background(), client.ObjectKeyFromObject(&p), &cur) != nil {
			return false
		}
		st = cur.Status
		return st.TotalEventsProcessed == 2
	}, 60*time.Second, 20*time.Millisecond)
	assert.Equal(t, int64(1), st.InterruptedRemediations)
	assert.Equal(t, st.TotalEventsProcessed, st.OutcomeSum())
	assert.Equal(t, 1, keysAt(stub)[key], "still exactly one request for the interrupted occurrence")
	assert.Equal(t, 2, stub.Count())
	recs := recordsIn(t, c, f.ns)
	require.Len(t, recs[v1alpha1.PhaseInterrupted], 1, "%v", recs)
	assert.Equal(t, remediation.Name(key), recs[v1alpha1.PhaseInterrupted][0].Name)
	assert.Contains(t, recs[v1alpha1.PhaseInterrupted][0].Status.Message, key)
	assert.Len(t, recs[v1alpha1.PhaseSucceeded], 1, "the later event was executed: %v", recs)
	assert.Empty(t, recs[v1alpha1.PhaseExecuting])
	noIntents(t, c)
}

// TestDryRun: a dryRun policy builds the request with the real deliverer
// and sends nothing; each occurrence is counted as DryRun with the issue text
// in its recent outcome, and turning dryRun off applies to the next event.
func TestDryRun(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	createNamespace(t, c, "dot-ai", nil)
	createNamespace(t, c, "dry", nil)
	createPod(t, c, "dry", "a")
	stub := mcptest.New(mcptest.Options{})
	require.NoError(t, stub.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = stub.Close() })
	s := intentSettings(stub.URL())
	p := newPolicy("dry", "p", v1alpha1.EventSelector{Type: "Warning"})
	p.Spec.DryRun = new(true)
	p.Spec.Mode = v1alpha1.ModeAutomatic // a dry run writes no intent either
	require.NoError(t, c.Create(context.Background(), p))
	r := startWatcher(t, env.Config, s, newDotai(t, env.Config, s), nil)
	defer r.stop(t)
	waitReason(t, c, p, v1alpha1.ReasonActive)
	status := func() v1alpha1.RemediationPolicyStatus {
		var cur v1alpha1.RemediationPolicy
		require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(p), &cur))
		return cur.Status
	}

	createEvent(t, c, "dry", "first", "Warning", "BackOff", "Pod", "a")
	require.Eventually(t, func() bool { return status().DryRunEvents == 1 }, 20*time.Second, 20*time.Millisecond)
	st := status()
	assert.Equal(t, 0, stub.Count(), "nothing is sent")
	assert.Empty(t, recordsIn(t, c, "dry"), "no record for a call never made")
	assert.Equal(t, st.TotalEventsProcessed, st.OutcomeSum())
	require.NotEmpty(t, st.RecentOutcomes)
	assert.Equal(t, v1alpha1.OutcomeDryRun, st.RecentOutcomes[0].Result)
	assert.Contains(t, st.RecentOutcomes[0].Message, "dry run, not sent")
	assert.Contains(t, st.RecentOutcomes[0].Message, "BackOff", "the issue text that would have been sent")

	var cur v1alpha1.RemediationPolicy
	require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(p), &cur))
	cur.Spec.DryRun = new(false)
	cur.Spec.Mode = v1alpha1.ModeManual
	require.NoError(t, c.Update(context.Background(), &cur))
	require.Eventually(t, func() bool { return status().ObservedGeneration == cur.Generation }, 20*time.Second, 20*time.Millisecond)
	createEvent(t, c, "dry", "second", "Warning", "BackOff", "Pod", "a")
	require.Eventually(t, func() bool { return stub.Count() == 1 }, 20*time.Second, 20*time.Millisecond, "the next event is sent")
	require.Eventually(t, func() bool { return status().AnalysesCompleted == 1 }, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, int64(1), status().DryRunEvents)
}

// TestPreviousReleaseIntent: a ControllerState intent the previous release
// left for an automatic-mode call is still resolved at start-up (the upgrade
// path): the occurrence is counted once as Interrupted, never sent, and the
// intent is deleted once checkpointed; no new intent is written.
func TestPreviousReleaseIntent(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	ctx := context.Background()
	createNamespace(t, c, "dot-ai", nil)
	createNamespace(t, c, "upgrade", nil)
	createPod(t, c, "upgrade", "a")
	stub := loopStub(t)
	s := intentSettings(stub.URL())
	p := newPolicy("upgrade", "p", v1alpha1.EventSelector{Type: "Warning"})
	p.Spec.Mode = v1alpha1.ModeAutomatic
	require.NoError(t, c.Create(ctx, p))
	ev := createEvent(t, c, "upgrade", "old", "Warning", "BackOff", "Pod", "a")
	occ := occurrenceKey(p.UID, ev.UID, 1)
	store := &state.Store{Namespace: "dot-ai", Reader: c, Writer: c}
	require.NoError(t, store.CreateIntent(ctx, state.Ref(p), &v1alpha1.IntentState{
		OccurrenceKey: occ, IdempotencyKey: delivery.IdempotencyKey(string(p.UID), occ),
		Event:     v1alpha1.IntentEvent{Namespace: "upgrade", Name: "old", UID: string(ev.UID), Count: 1, Time: &ev.LastTimestamp, Reason: "BackOff", InvolvedObject: "Pod/a"},
		CreatedAt: new(metav1.Now()),
	}))

	r := startWatcher(t, env.Config, s, newDotai(t, env.Config, s), nil)
	defer r.stop(t)
	require.Eventually(t, func() bool {
		var cur v1alpha1.RemediationPolicy
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), &cur))
		return cur.Status.InterruptedRemediations == 1
	}, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		var list v1alpha1.ControllerStateList
		require.NoError(t, c.List(ctx, &list, client.MatchingLabels{state.LabelComponent: state.ComponentIntent}))
		return len(list.Items) == 0
	}, 10*time.Second, 20*time.Millisecond, "the old intent is deleted once checkpointed")
	assert.Zero(t, stub.Count(), "the interrupted call is never sent")
}
