package watcher

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery/dotai"
	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/internal/remediation"
	"dot-ai.io/controller/internal/testenv"
)

// The manual-mode loop (issue 18): a record per delivered occurrence, a
// person's decision in spec.approval, and the execute call sent at most
// once, tested with the controller's deliverer, the Remediation executor and
// a stub dot-ai on 127.0.0.1.

// envExecutor makes a child run the Remediation executor too.
const envExecutor = "DOT_AI_WATCHER_EXECUTOR"

// startLoop runs the watcher with the dot-ai deliverer and the Remediation
// executor against s's endpoint, as the binary wires them.
func startLoop(t testing.TB, cfg *rest.Config, s *config.Settings) *running {
	t.Helper()
	mgr, err := manager.New(cfg, manager.Options{Scheme: testenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache: remediation.ManagerCache()})
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	mc, err := mcp.New(mcp.Options{Timeout: time.Hour})
	require.NoError(t, err)
	d := dotai.New(dotai.Options{Settings: s, Client: mc, Secrets: mgr.GetAPIReader(),
		Enricher: enricher.New(enricher.Options{Kube: kube, Events: enricher.APIEvents{Client: kube}})})
	records, err := NewRecords(mgr, s)
	require.NoError(t, err)
	require.NoError(t, (&remediation.Executor{Records: records, MCP: mc, Tokens: d, Settings: s, Policies: mgr.GetClient()}).SetupWithManager(mgr))
	w, err := New(mgr, s, d, WithRecords(records), WithStatusInterval(200*time.Millisecond), WithCheckpointInterval(200*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, w.SetupWithManager(mgr))
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- mgr.Start(ctx) }()
	require.Eventually(t, r.w.Ready, 30*time.Second, 20*time.Millisecond, "watcher did not start")
	return r
}

// executeCalls are the execute requests the stub received, by sessionId.
func executeCalls(stub *mcptest.Server) map[string]int {
	out := map[string]int{}
	for _, r := range stub.Requests() {
		var body mcp.Request
		if json.Unmarshal(r.Body, &body) == nil && body.ExecuteChoice != 0 {
			out[body.SessionID]++
		}
	}
	return out
}

// waitRecord waits until ns holds a record in phase and returns it.
func waitRecord(t testing.TB, c client.Client, ns string, phase v1alpha1.RemediationPhase, within time.Duration) v1alpha1.Remediation {
	t.Helper()
	var got v1alpha1.Remediation
	require.Eventually(t, func() bool {
		recs := recordsIn(t, c, ns)[phase]
		if len(recs) == 0 {
			return false
		}
		got = recs[0]
		return true
	}, within, 20*time.Millisecond, "no record in %s reached %s", ns, phase)
	return got
}

// decide sets spec.approval as the webhook would leave it.
func decide(t testing.TB, c client.Client, rec *v1alpha1.Remediation, d v1alpha1.ApprovalDecision, reason string) {
	t.Helper()
	var cur v1alpha1.Remediation
	require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(rec), &cur))
	cur.Spec.Approval = &v1alpha1.RemediationApproval{Decision: d, Reason: reason, DecidedBy: "alice@example.test", DecidedAt: new(metav1.Now())}
	require.NoError(t, c.Update(context.Background(), &cur))
}

func loopStub(t testing.TB) *mcptest.Server {
	stub := mcptest.New(mcptest.Options{})
	require.NoError(t, stub.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = stub.Close() })
	return stub
}

// TestApprovalLoop: a manual-mode event gets a record in the involved
// object's namespace with the stub's analysis and proposal; an approval
// executes it with exactly one execute call carrying its sessionId; a
// rejection executes nothing; a record the controller did not seal, carrying
// another team's sessionId, executes nothing.
func TestApprovalLoop(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	createNamespace(t, c, "dot-ai", nil)
	createNamespace(t, c, "team-a", map[string]string{"team": "a"})
	createNamespace(t, c, "team-b", nil)
	createPod(t, c, "team-a", "api")
	stub := loopStub(t)
	s := intentSettings(stub.URL())
	// A cluster-wide policy in the release namespace: the record still goes
	// to the involved object's namespace.
	s.ClusterPolicyNamespaces = []string{"dot-ai"}
	p := newPolicy("dot-ai", "cluster", v1alpha1.EventSelector{Type: "Warning"})
	p.Spec.Mode = v1alpha1.ModeManual
	p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{"team": "a"}}
	require.NoError(t, c.Create(context.Background(), p))
	r := startLoop(t, env.Config, s)
	defer r.stop(t)
	waitReason(t, c, p, v1alpha1.ReasonActive)

	createEvent(t, c, "team-a", "crash", "Warning", "BackOff", "Pod", "api")
	rec := waitRecord(t, c, "team-a", v1alpha1.PhaseAwaitingApproval, 30*time.Second)
	st := rec.Status
	require.NotNil(t, st.Analysis)
	assert.Contains(t, st.Analysis.RootCause, "Stub analysis of:")
	require.NotNil(t, st.Proposal)
	require.Len(t, st.Proposal.Actions, 1)
	assert.Equal(t, "kubectl rollout restart deployment/app", st.Proposal.Actions[0].Command)
	assert.Equal(t, v1alpha1.RiskLow, st.Proposal.Risk)
	assert.NotEmpty(t, st.SessionID)
	assert.NotEmpty(t, st.Seal)
	require.NotNil(t, st.ExpiresAt)
	assert.Equal(t, stub.URL(), rec.Spec.McpURL)
	assert.Equal(t, "api", rec.Spec.Event.InvolvedObject.Name)
	assert.Equal(t, string(p.UID), rec.Spec.Policy.UID)
	assert.Empty(t, rec.OwnerReferences, "records are not owned by the policy")
	var writes []string // the status write sent none: the API server kept the create's
	for _, m := range rec.ManagedFields {
		writes = append(writes, m.Subresource)
	}
	assert.ElementsMatch(t, []string{"", "status"}, writes, "managed fields of the create and the status write")
	require.Eventually(t, func() bool {
		var cur v1alpha1.RemediationPolicy
		require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(p), &cur))
		return len(cur.Status.RecentOutcomes) == 1 && cur.Status.RecentOutcomes[0].Remediation == rec.Name
	}, 20*time.Second, 20*time.Millisecond, "the policy's outcome names the record")

	decide(t, c, &rec, v1alpha1.DecisionApprove, "looks right")
	done := waitRecord(t, c, "team-a", v1alpha1.PhaseSucceeded, 30*time.Second)
	assert.Equal(t, rec.Name, done.Name)
	assert.Equal(t, map[string]int{st.SessionID: 1}, executeCalls(stub), "exactly one execute call, with the record's session")
	ex := done.Status.Execution
	require.NotNil(t, ex)
	assert.NotNil(t, ex.StartedAt)
	assert.Equal(t, []string{"kubectl rollout restart deployment/app"}, ex.ExecutedCommands)
	require.Len(t, ex.Results, 1)
	assert.True(t, ex.Results[0].Success)
	require.NotNil(t, ex.ValidationSucceeded)
	assert.True(t, *ex.ValidationSucceeded)
	assert.NotNil(t, done.Status.CompletedAt)
	assert.Equal(t, st.SessionID, done.Status.SessionID)
	phases := recordEventReasons(t, c, "team-a", rec.Name)
	for _, want := range []string{"AwaitingApproval", "Executing", "Succeeded"} {
		assert.Contains(t, phases, want, "an Event on the record for each phase change")
	}

	t.Run("rejected", func(t *testing.T) {
		createEvent(t, c, "team-a", "crash-2", "Warning", "BackOff", "Pod", "api")
		second := waitRecord(t, c, "team-a", v1alpha1.PhaseAwaitingApproval, 30*time.Second)
		decide(t, c, &second, v1alpha1.DecisionReject, "not now")
		got := waitRecord(t, c, "team-a", v1alpha1.PhaseRejected, 30*time.Second)
		assert.Contains(t, got.Status.Message, "alice@example.test")
		assert.Equal(t, 1, len(executeCalls(stub)), "a rejection sends nothing")
	})

	t.Run("forged", func(t *testing.T) {
		// Someone who may create records (no webhook here) copies team-a's
		// record, seal included, into team-b and approves it.
		forged := &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "rem-forged"}, Spec: rec.Spec}
		forged.Spec.Approval = nil
		require.NoError(t, c.Create(context.Background(), forged))
		forged.Status = rec.Status
		forged.Status.Phase = v1alpha1.PhaseAwaitingApproval
		require.NoError(t, c.Status().Update(context.Background(), forged))
		decide(t, c, forged, v1alpha1.DecisionApprove, "")
		got := waitRecord(t, c, "team-b", v1alpha1.PhaseFailed, 30*time.Second)
		assert.Contains(t, got.Status.Message, "seal")
		assert.Equal(t, map[string]int{st.SessionID: 1}, executeCalls(stub), "the forged record executed nothing")
	})
}

// recordEventReasons are the reasons of the Events posted on a record.
func recordEventReasons(t testing.TB, c client.Client, ns, name string) []string {
	t.Helper()
	var out []string
	require.Eventually(t, func() bool {
		var list corev1.EventList
		require.NoError(t, c.List(context.Background(), &list, client.InNamespace(ns)))
		out = out[:0]
		for _, e := range list.Items {
			if e.InvolvedObject.Kind == "Remediation" && e.InvolvedObject.Name == name {
				out = append(out, e.Reason)
			}
		}
		return len(out) >= 3
	}, 20*time.Second, 50*time.Millisecond)
	return out
}

// TestExecuteAcrossSIGKILL: a child controller is SIGKILLed while the
// execute call of an approved proposal hangs at the stub; the restarted one
// never sends it again and marks the record Interrupted, saying how to check
// the session in dot-ai.
func TestExecuteAcrossSIGKILL(t *testing.T) {
	f := newKillFixture(t, "sigkill-exec")
	c := f.client
	stub := loopStub(t)
	first := startChild(t, f.kubeconfig, stub.URL(), envDotai+"=1", envExecutor+"=1")
	waitReason(t, c, f.policy, v1alpha1.ReasonActive)
	createEvent(t, c, f.ns, "crash", "Warning", "BackOff", "Pod", "victim")
	rec := waitRecord(t, c, f.ns, v1alpha1.PhaseAwaitingApproval, 60*time.Second)
	session := rec.Status.SessionID
	require.NotEmpty(t, session)

	stub.SetOverride(&mcptest.Reply{Delay: time.Hour}) // the execute call hangs
	decide(t, c, &rec, v1alpha1.DecisionApprove, "")
	require.Eventually(t, func() bool { return executeCalls(stub)[session] == 1 }, 30*time.Second, 10*time.Millisecond)
	executing := waitRecord(t, c, f.ns, v1alpha1.PhaseExecuting, 10*time.Second)
	require.NotNil(t, executing.Status.Execution)
	require.NotNil(t, executing.Status.Execution.StartedAt, "Executing was written before the request left")
	first.kill(t)

	stub.SetOverride(nil)
	startChild(t, f.kubeconfig, stub.URL(), envDotai+"=1", envExecutor+"=1")
	got := waitRecord(t, c, f.ns, v1alpha1.PhaseInterrupted, 60*time.Second)
	assert.Equal(t, rec.Name, got.Name)
	assert.Contains(t, got.Status.Message, session)
	assert.Contains(t, got.Status.Message, "/api/v1/sessions/"+session, "how to check the session in dot-ai")
	// A later event shows the new process is at work; still one execute call.
	createEvent(t, c, f.ns, "later", "Warning", "BackOff", "Pod", "victim")
	require.Eventually(t, func() bool { return len(recordsIn(t, c, f.ns)[v1alpha1.PhaseAwaitingApproval]) == 1 }, 60*time.Second, 20*time.Millisecond)
	assert.Equal(t, map[string]int{session: 1}, executeCalls(stub), "no second execute request")
}

// TestProposalCapAndFailedRecord: in a namespace at the cap on open
// proposals a manual-mode occurrence is not sent and ends as
// ProposalCapReached, with no record; a delivery that fails before its call
// (the policy's Secret is missing) gets a Failed record.
func TestProposalCapAndFailedRecord(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	ctx := context.Background()
	createNamespace(t, c, "dot-ai", nil)
	createNamespace(t, c, "capped", nil)
	createNamespace(t, c, "broken", nil)
	createPod(t, c, "capped", "a")
	createPod(t, c, "broken", "a")
	stub := loopStub(t)
	s := intentSettings(stub.URL())
	s.Remediations.MaxOpenPerNamespace = 1
	p := newPolicy("capped", "p", v1alpha1.EventSelector{Type: "Warning"})
	require.NoError(t, c.Create(ctx, p))
	broken := newPolicy("broken", "p", v1alpha1.EventSelector{Type: "Warning"})
	broken.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: "missing", Key: "token"}
	require.NoError(t, c.Create(ctx, broken))
	r := startLoop(t, env.Config, s)
	defer r.stop(t)
	waitReason(t, c, p, v1alpha1.ReasonActive)

	createEvent(t, c, "capped", "first", "Warning", "BackOff", "Pod", "a")
	waitRecord(t, c, "capped", v1alpha1.PhaseAwaitingApproval, 30*time.Second)
	createEvent(t, c, "capped", "second", "Warning", "BackOff", "Pod", "a")
	var st v1alpha1.RemediationPolicyStatus
	require.Eventually(t, func() bool {
		var cur v1alpha1.RemediationPolicy
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), &cur))
		st = cur.Status
		return st.TotalEventsProcessed == 2
	}, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, int64(1), st.ProposalCapEvents)
	assert.Equal(t, st.TotalEventsProcessed, st.OutcomeSum())
	assert.Equal(t, v1alpha1.OutcomeProposalCapReached, st.RecentOutcomes[0].Result)
	assert.Empty(t, st.RecentOutcomes[0].Remediation, "no record over the cap")
	assert.Equal(t, 1, stub.Count(), "nothing sent over the cap")
	assert.Len(t, recordsIn(t, c, "capped")[v1alpha1.PhaseAwaitingApproval], 1)

	createEvent(t, c, "broken", "ev", "Warning", "BackOff", "Pod", "a")
	failed := waitRecord(t, c, "broken", v1alpha1.PhaseFailed, 30*time.Second)
	assert.Equal(t, "INVALID_SECRET_REF", failed.Status.McpStatus)
	assert.Contains(t, failed.Status.Message, "missing")
	assert.NotNil(t, failed.Status.CompletedAt)
	assert.Equal(t, 1, stub.Count(), "the failed delivery sent nothing")
}
