package guard

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/policy/policytest"
)

// countingDeliverer stands for the dot-ai deliverer: it counts the calls
// that reach it and answers with result.
type countingDeliverer struct {
	calls  atomic.Int32
	result delivery.Result
}

func (c *countingDeliverer) Deliver(context.Context, delivery.Request) delivery.Result {
	c.calls.Add(1)
	return c.result
}

func request(s *config.Settings, policyNS, objectNS string, mode v1alpha1.RemediationMode, risk v1alpha1.RiskLevel) delivery.Request {
	p := policytest.Policy(policyNS, v1alpha1.EventSelector{Reason: "BackOff"})
	p.Spec.Mode, p.Spec.MaxRiskLevel = mode, risk
	ev := policytest.Event(objectNS, "Warning", "BackOff", "Pod", "web", "")
	return delivery.Request{Policy: p, Event: ev, Effective: policy.Resolve(p, 0, s)}
}

func guardedSettings() *config.Settings {
	s := policytest.Settings()
	s.Guardrails = config.Default().Guardrails
	s.Guardrails.CallsPerHour, s.Guardrails.NamespaceCallsPerHour = 3, 2
	return s
}

func TestBudgetOverflowIsCountedAndNothingSent(t *testing.T) {
	s := guardedSettings()
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	next := &countingDeliverer{result: delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeAnalysisCompleted}}}
	d := New(next, s, clk)
	deliver := func(objectNS string) delivery.Result {
		return d.Deliver(t.Context(), request(s, "dot-ai", objectNS, v1alpha1.ModeManual, ""))
	}

	assert.Equal(t, v1alpha1.OutcomeAnalysisCompleted, deliver("team-a").Outcome.Result)
	assert.Equal(t, v1alpha1.OutcomeAnalysisCompleted, deliver("team-a").Outcome.Result)
	res := deliver("team-a")
	assert.Equal(t, v1alpha1.OutcomeBudgetExceeded, res.Outcome.Result, "manual analyses spend the budget too")
	assert.Equal(t, `not sent: the analysis budget of 2 calls per hour for namespace "team-a" is spent (chart value guardrails.budget.namespaceCallsPerHour)`, res.Outcome.Message)
	assert.Equal(t, int32(2), next.calls.Load(), "an overflowing occurrence is not sent")

	assert.Equal(t, v1alpha1.OutcomeAnalysisCompleted, deliver("team-b").Outcome.Result,
		"a cluster-wide policy spends the budget of the event's namespace, not its own")
	res = deliver("team-c")
	assert.Equal(t, v1alpha1.OutcomeBudgetExceeded, res.Outcome.Result)
	assert.Equal(t, "not sent: the installation's analysis budget of 3 calls per hour is spent (chart value guardrails.budget.callsPerHour)", res.Outcome.Message)
	assert.Equal(t, int32(3), next.calls.Load())

	clk.Step(time.Hour)
	assert.Equal(t, v1alpha1.OutcomeAnalysisCompleted, deliver("team-a").Outcome.Result, "the next hour has a fresh budget")
}

func TestHeldOccurrenceGetsItsCallBack(t *testing.T) {
	s := guardedSettings()
	next := &countingDeliverer{result: delivery.Result{RequeueAfter: time.Second}} // endpoint unreachable: no call made
	d := New(next, s, clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0)))
	for range 5 {
		res := d.Deliver(t.Context(), request(s, "dot-ai", "team-a", v1alpha1.ModeManual, ""))
		assert.Equal(t, time.Second, res.RequeueAfter, "held, not refused by the budget")
	}
	assert.Equal(t, int32(5), next.calls.Load())
}

func TestCapsAtDelivery(t *testing.T) {
	s := guardedSettings() // automatic mode only in dot-ai and platform; risk up to medium
	tests := map[string]struct {
		req  delivery.Request
		want string
	}{
		"automatic outside the allowed namespaces": {
			req:  request(s, "team-a", "team-a", v1alpha1.ModeAutomatic, v1alpha1.RiskLow),
			want: policy.AutomaticModeMessage(s, "team-a"),
		},
		"risk above the namespace's cap": {
			req:  request(s, "dot-ai", "team-a", v1alpha1.ModeAutomatic, v1alpha1.RiskHigh),
			want: policy.RiskCapMessage(s, "dot-ai", v1alpha1.RiskHigh),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			next := &countingDeliverer{}
			res := New(next, s, clocktesting.NewFakeClock(time.Now())).Deliver(t.Context(), tc.req)
			assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, res.Outcome.Result)
			assert.Equal(t, tc.want, res.Outcome.Message)
			assert.Zero(t, next.calls.Load(), "nothing is sent")
		})
	}
	t.Run("within the caps the call is made", func(t *testing.T) {
		next := &countingDeliverer{}
		New(next, s, clocktesting.NewFakeClock(time.Now())).Deliver(t.Context(), request(s, "dot-ai", "team-a", v1alpha1.ModeAutomatic, v1alpha1.RiskMedium))
		assert.Equal(t, int32(1), next.calls.Load())
	})
}

func TestBudgetNamespace(t *testing.T) {
	s := policytest.Settings()
	assert.Equal(t, "team-a", BudgetNamespace(request(s, "dot-ai", "team-a", "", "")))
	req := request(s, "dot-ai", "", "", "")
	req.Event.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "n1"}
	assert.Equal(t, "dot-ai", BudgetNamespace(req), "a cluster-scoped object spends its policy's namespace's share")
}
