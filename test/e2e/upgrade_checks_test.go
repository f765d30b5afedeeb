//go:build e2e && upgrade

package e2e

// What the upgrade test (upgrade_test.go) reads and asserts: the stubs'
// record and the policies' status, never the checkpoint's format.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/internal/state"
	"dot-ai.io/controller/test/e2e/harness"
)

// upgradeRequest is what the test reads from one request a stub received.
type upgradeRequest struct {
	policy, event, key string
}

// requests decodes what both stubs received.
func (u *upgradeRun) requests() ([]upgradeRequest, error) {
	var out []upgradeRequest
	for _, stub := range []*mcptest.Server{u.stub, u.allowed} {
		for _, r := range stub.Requests() {
			// The previous release sent policy as {namespace, name}; this one
			// sends the product spec's policy name and policyRef.
			var body struct {
				Policy    json.RawMessage `json:"policy"`
				PolicyRef *mcp.PolicyRef  `json:"policyRef"`
				Context   struct {
					Event struct{ Namespace, Name string } `json:"event"`
				} `json:"context"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil {
				return nil, fmt.Errorf("a request is not JSON (%v): %s", err, r.Body)
			}
			ref := body.PolicyRef
			if ref == nil {
				_ = json.Unmarshal(body.Policy, &ref)
			}
			if ref == nil {
				return nil, fmt.Errorf("a request names no policy: %s", r.Body)
			}
			out = append(out, upgradeRequest{
				policy: ref.Namespace + "/" + ref.Name,
				event:  body.Context.Event.Namespace + "/" + body.Context.Event.Name,
				key:    r.Header.Get(mcp.IdempotencyHeader),
			})
		}
	}
	return out, nil
}

// perPolicy counts the stubs' requests by policy.
func (u *upgradeRun) perPolicy() (map[string]int, error) {
	reqs, err := u.requests()
	out := map[string]int{}
	for _, r := range reqs {
		out[r.policy]++
	}
	return out, err
}

// awaitDelivered waits until the stubs received want requests for each
// policy.
func (u *upgradeRun) awaitDelivered(t *testing.T, policies []*upgradePolicy, want int, ctrl *harness.Controller) {
	t.Helper()
	var got map[string]int
	var err error
	require.Eventuallyf(t, func() bool {
		if got, err = u.perPolicy(); err != nil {
			return true
		}
		for _, p := range policies {
			if got[p.key.String()] < want {
				return false
			}
		}
		return true
	}, 90*time.Second, 200*time.Millisecond, "want %d requests per policy; got %v; controller log: %s", want, &got, ctrl.LogFile)
	require.NoError(t, err)
}

// awaitEvents waits until the stubs received every event of the phase for
// the policy.
func (u *upgradeRun) awaitEvents(t *testing.T, p *upgradePolicy, phase string, ctrl *harness.Controller) {
	t.Helper()
	var missing []string
	var err error
	require.Eventuallyf(t, func() bool {
		var reqs []upgradeRequest
		if reqs, err = u.requests(); err != nil {
			return true
		}
		seen := map[string]bool{}
		for _, r := range reqs {
			seen[r.policy+" "+r.event] = true
		}
		missing = missing[:0]
		for i := range eventsPerPhase {
			ev := fmt.Sprintf("%s/%s-%s-%d", p.eventNS, p.key.Name, phase, i)
			if !seen[p.key.String()+" "+ev] {
				missing = append(missing, ev)
			}
		}
		return len(missing) == 0
	}, 90*time.Second, 200*time.Millisecond, "policy %s: events never delivered: %v; controller log: %s", p.key, &missing, ctrl.LogFile)
	require.NoError(t, err)
}

// awaitCounters waits until each policy's status counts want events, then
// checks it counts exactly that, all analysed, as many as the stubs
// received, and returns the statuses.
func (u *upgradeRun) awaitCounters(t *testing.T, policies []*upgradePolicy, want int64) map[client.ObjectKey]v1alpha1.RemediationPolicyStatus {
	t.Helper()
	out := map[client.ObjectKey]v1alpha1.RemediationPolicyStatus{}
	for _, p := range policies {
		var st v1alpha1.RemediationPolicyStatus
		require.Eventuallyf(t, func() bool {
			var cur v1alpha1.RemediationPolicy
			if err := u.c.Get(t.Context(), p.key, &cur); err != nil {
				return false
			}
			st = cur.Status
			return st.TotalEventsProcessed >= want && st.AnalysesCompleted >= want
		}, 60*time.Second, 200*time.Millisecond, "policy %s: want %d events processed and analysed; status counters %v", p.key, want, statusCounters{&st})
		out[p.key] = st
	}
	got, err := u.perPolicy()
	require.NoError(t, err)
	for _, p := range policies {
		st := out[p.key]
		assert.Equalf(t, want, st.TotalEventsProcessed, "policy %s: status.totalEventsProcessed", p.key)
		assert.Equalf(t, want, st.AnalysesCompleted, "policy %s: status.analysesCompleted", p.key)
		assert.EqualValuesf(t, want, got[p.key.String()], "requests the stubs received for %s", p.key)
	}
	return out
}

// statusCounters prints a status's counters in a failure message (read when
// the message is printed, after the wait).
type statusCounters struct {
	st *v1alpha1.RemediationPolicyStatus
}

func (c statusCounters) String() string {
	s := c.st
	return fmt.Sprintf("total=%d analysed=%d succeeded=%d failed=%d rateLimited=%d cooledDown=%d dropped=%d skipped=%d budgetExceeded=%d",
		s.TotalEventsProcessed, s.AnalysesCompleted, s.SuccessfulRemediations, s.FailedRemediations, s.RateLimitedEvents,
		s.CooledDownEvents, s.DroppedEvents, s.SkippedEvents, s.BudgetExceededEvents)
}

// assertNoResend: every occurrence reached dot-ai once, under one key.
func (u *upgradeRun) assertNoResend(t *testing.T) {
	t.Helper()
	reqs, err := u.requests()
	require.NoError(t, err)
	keys, events := map[string]int{}, map[string]int{}
	for _, r := range reqs {
		keys[r.key]++
		events[r.policy+" "+r.event]++
	}
	for k, n := range keys {
		assert.Equalf(t, 1, n, "Idempotency-Key %s sent %d times", k, n)
	}
	for e, n := range events {
		assert.Equalf(t, 1, n, "occurrence %s sent %d times", e, n)
	}
}

// assertCountersNotBelow: no status counter went back.
func assertCountersNotBelow(t *testing.T, key client.ObjectKey, before, after v1alpha1.RemediationPolicyStatus) {
	t.Helper()
	pairs := map[string][2]int64{
		"totalEventsProcessed":   {before.TotalEventsProcessed, after.TotalEventsProcessed},
		"analysesCompleted":      {before.AnalysesCompleted, after.AnalysesCompleted},
		"successfulRemediations": {before.SuccessfulRemediations, after.SuccessfulRemediations},
		"failedRemediations":     {before.FailedRemediations, after.FailedRemediations},
		"rateLimitedEvents":      {before.RateLimitedEvents, after.RateLimitedEvents},
		"cooledDownEvents":       {before.CooledDownEvents, after.CooledDownEvents},
		"droppedEvents":          {before.DroppedEvents, after.DroppedEvents},
		"skippedEvents":          {before.SkippedEvents, after.SkippedEvents},
	}
	for name, v := range pairs {
		assert.GreaterOrEqualf(t, v[1], v[0], "policy %s: status.%s went back across the upgrade", key, name)
	}
}

// assertStateCarriedOver checks the controller-owned state after the upgrade,
// through the admin client c. The checks above already prove the state's
// effect (no resend, counters kept); checks of the state's own format (where
// it lives, its format version, what a migration left behind) belong here.
// Today: the current controller took each policy over (it observed the
// policy's generation and reports it Ready/Active).
func assertStateCarriedOver(t *testing.T, c client.Client, releaseNS string, policies []*upgradePolicy) {
	t.Helper()
	for _, p := range policies {
		var got v1alpha1.RemediationPolicy
		require.Eventuallyf(t, func() bool {
			if err := c.Get(t.Context(), p.key, &got); err != nil {
				return false
			}
			ready := findCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			return got.Status.ObservedGeneration == got.Generation && ready != nil &&
				ready.Status == metav1.ConditionTrue && ready.Reason == v1alpha1.ReasonActive
		}, 30*time.Second, 200*time.Millisecond, "policy %s (release namespace %s) not taken over: status %+v", p.key, releaseNS, &got.Status)

		// The first release's checkpoint ConfigMap was migrated into a
		// ControllerState checkpoint whose counters the status shows, and
		// the policy, admitted by the old webhook, is admitted once.
		store := &state.Store{Namespace: releaseNS, Reader: c, Writer: c}
		require.Eventuallyf(t, func() bool {
			cp, _, err := store.LoadCheckpoint(t.Context(), got.UID)
			if err != nil || cp == nil || c.Get(t.Context(), p.key, &got) != nil {
				return false
			}
			return cp.Counts == got.Status.OutcomeCounts && cp.Counts.TotalEventsProcessed > 0
		}, 30*time.Second, 200*time.Millisecond, "policy %s: no migrated checkpoint whose counters the status shows", p.key)
		ok, err := (&state.Ledger{Store: store}).Admitted(t.Context(), &got)
		require.NoError(t, err)
		assert.Truef(t, ok, "policy %s: its spec is recorded as admitted", p.key)
	}
}

// revision is the release's current Helm revision.
func (u *upgradeRun) revision(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(filepath.Join(u.root, "bin", "helm"), "status", u.release, "--namespace", u.releaseNS, "-o", "json")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+u.kubeconfig)
	out, err := cmd.Output() // stdout only: helm warns on stderr
	require.NoError(t, err)
	var st struct {
		Version int `json:"version"`
	}
	require.NoError(t, json.Unmarshal(out, &st))
	return st.Version
}
