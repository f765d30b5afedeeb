package watcher

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/testenv"
)

func TestDeliveryHealth(t *testing.T) {
	const n = deliveringFailureThreshold
	fail, ok := outcomeDelivFailed, outcomeAnalysis
	repeat := func(oc outcome, times int) []outcome {
		out := make([]outcome, times)
		for i := range out {
			out[i] = oc
		}
		return out
	}
	seq := func(parts ...[]outcome) []outcome {
		var out []outcome
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := map[string]struct {
		outcomes []outcome
		status   metav1.ConditionStatus // "" means no condition yet
		reason   string
		failures int
	}{
		"no delivery yet":                 {nil, "", "", 0},
		"failures below N set nothing":    {repeat(fail, n-1), "", "", n - 1},
		"N failures turn it False":        {repeat(fail, n), metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing, n},
		"more than N failures stay False": {repeat(fail, n+2), metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing, n + 2},
		"a success turns it True":         {[]outcome{ok}, metav1.ConditionTrue, v1alpha1.ReasonDelivered, 0},
		"success then failures below N":   {seq([]outcome{ok}, repeat(fail, n-1)), metav1.ConditionTrue, v1alpha1.ReasonDelivered, n - 1},
		"success resets the count": {
			seq(repeat(fail, n-1), []outcome{ok}, repeat(fail, n-1)), metav1.ConditionTrue, v1alpha1.ReasonDelivered, n - 1,
		},
		"recovers on the next success": {seq(repeat(fail, n+1), []outcome{ok}), metav1.ConditionTrue, v1alpha1.ReasonDelivered, 0},
		"a failed remediation is a delivery": {
			seq(repeat(fail, n), []outcome{outcomeFailed}), metav1.ConditionTrue, v1alpha1.ReasonDelivered, 0,
		},
		"a succeeded remediation is a delivery": {
			seq(repeat(fail, n), []outcome{outcomeSucceeded}), metav1.ConditionTrue, v1alpha1.ReasonDelivered, 0,
		},
		"outcomes without a call neither count nor reset": {
			seq(repeat(fail, n-1), []outcome{outcomeRateLimited, outcomeCooledDown, outcomeDropped, outcomeSkipped}, []outcome{fail}),
			metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing, n,
		},
		"outcomes without a call leave False alone": {
			seq(repeat(fail, n), []outcome{outcomeRateLimited, outcomeCooledDown, outcomeDropped, outcomeSkipped}),
			metav1.ConditionFalse, v1alpha1.ReasonDeliveryFailing, n,
		},
		"outcomes without a call leave True alone": {
			[]outcome{ok, outcomeRateLimited, outcomeCooledDown, outcomeDropped, outcomeSkipped},
			metav1.ConditionTrue, v1alpha1.ReasonDelivered, 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var h deliveryHealth
			for _, oc := range tc.outcomes {
				h.observe(oc, &v1alpha1.RemediationOutcome{McpStatus: "HTTP_500", Message: "Internal Server Error"}, 7)
			}
			assert.Equal(t, tc.failures, h.failures)
			if tc.status == "" {
				assert.Nil(t, h.cond)
				return
			}
			require.NotNil(t, h.cond)
			assert.Equal(t, v1alpha1.ConditionDelivering, h.cond.Type)
			assert.Equal(t, tc.status, h.cond.Status)
			assert.Equal(t, tc.reason, h.cond.Reason)
			assert.Equal(t, int64(7), h.cond.ObservedGeneration)
			if tc.status == metav1.ConditionFalse {
				assert.Contains(t, h.cond.Message, "HTTP_500: Internal Server Error")
			}
		})
	}
}

func TestDeliveryHealthReportsStatusChanges(t *testing.T) {
	var h deliveryHealth
	out := &v1alpha1.RemediationOutcome{McpStatus: "HTTP_500"}
	assert.True(t, h.observe(outcomeAnalysis, out, 1), "first verdict")
	assert.False(t, h.observe(outcomeAnalysis, out, 1), "still True")
	for range deliveringFailureThreshold - 1 {
		assert.False(t, h.observe(outcomeDelivFailed, out, 1), "below the threshold")
	}
	assert.True(t, h.observe(outcomeDelivFailed, out, 1), "turned False")
	assert.False(t, h.observe(outcomeDelivFailed, out, 2), "still False")
	assert.Equal(t, int64(2), h.cond.ObservedGeneration, "the generation of the latest delivery")
	assert.Contains(t, h.cond.Message, "4 deliveries in a row failed")
	assert.False(t, h.observe(outcomeSkipped, out, 3))
	assert.True(t, h.observe(outcomeSucceeded, out, 3), "recovered")
}

func TestFailingMessage(t *testing.T) {
	t.Run("names the code and redacts secrets and userinfo", func(t *testing.T) {
		m := failingMessage(3, &v1alpha1.RemediationOutcome{
			McpStatus: "HTTP_401",
			Message:   "POST https://user:hunter2@dot-ai.svc/x: server echoed Authorization: Bearer s3cr3t-t0ken and http://tok3n@h/",
		})
		assert.True(t, strings.HasPrefix(m, "3 deliveries in a row failed; the last with HTTP_401: "), m)
		for _, secret := range []string{"hunter2", "s3cr3t-t0ken", "tok3n", "user:"} {
			assert.NotContains(t, m, secret)
		}
	})
	t.Run("without a record", func(t *testing.T) {
		assert.Equal(t, "3 deliveries in a row failed; the last with UNKNOWN", failingMessage(3, nil))
	})
	t.Run("is bounded on a rune boundary", func(t *testing.T) {
		m := failingMessage(3, &v1alpha1.RemediationOutcome{McpStatus: "X", Message: strings.Repeat("é", 2*v1alpha1.MaxConditionMessageLength)})
		assert.LessOrEqual(t, utf8.RuneCountInString(m), v1alpha1.MaxConditionMessageLength)
		assert.True(t, utf8.ValidString(m))
	})
}

// testDeliveringCondition runs in TestIntegration's environment: a policy
// whose every delivery fails turns Delivering False after
// deliveringFailureThreshold of them, and True again on the next success.
func testDeliveringCondition(t *testing.T, env *testenv.Env) {
	c, ctx := env.Client, context.Background()
	var failing atomic.Bool
	failing.Store(true)
	rec := &recorder{result: func(delivery.Request) delivery.Result {
		if failing.Load() {
			return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeDeliveryFailed, McpStatus: "HTTP_500",
				Message: "error response is not a dot-ai envelope: POST http://user:hunter2@dot-ai/x echoed Authorization: Bearer s3cr3t-t0ken"}}
		}
		return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeAnalysisCompleted, McpStatus: "success"}}
	}}
	f := newFixture(t, env, "delivering", v1alpha1.EventSelector{Type: "Warning"}, withRecorder(rec))
	p := f.policy
	get := func() *v1alpha1.RemediationPolicy {
		var cur v1alpha1.RemediationPolicy
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), &cur))
		return &cur
	}
	delivering := func() *metav1.Condition {
		return meta.FindStatusCondition(get().Status.Conditions, v1alpha1.ConditionDelivering)
	}
	processed := func(n int64) {
		t.Helper()
		require.Eventually(t, func() bool { return get().Status.TotalEventsProcessed == n }, 10*time.Second, 20*time.Millisecond)
	}
	assert.Nil(t, delivering(), "absent before the first delivery")

	for i := range deliveringFailureThreshold - 1 {
		createEvent(t, c, "delivering", fmt.Sprintf("f%d", i), "Warning", "BackOff", "Pod", "a")
	}
	processed(deliveringFailureThreshold - 1)
	assert.Nil(t, delivering(), "fewer than %d failures set nothing", deliveringFailureThreshold)

	createEvent(t, c, "delivering", "f-last", "Warning", "BackOff", "Pod", "a")
	require.Eventually(t, func() bool {
		d := delivering()
		return d != nil && d.Status == metav1.ConditionFalse
	}, 10*time.Second, 20*time.Millisecond, "Delivering never turned False")
	cur := get()
	d := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionDelivering)
	assert.Equal(t, v1alpha1.ReasonDeliveryFailing, d.Reason)
	assert.Equal(t, cur.Generation, d.ObservedGeneration)
	assert.Contains(t, d.Message, fmt.Sprintf("%d deliveries in a row failed; the last with HTTP_500: ", deliveringFailureThreshold))
	for _, secret := range []string{"hunter2", "s3cr3t-t0ken", "user:"} {
		assert.NotContains(t, d.Message, secret)
	}
	assert.Equal(t, v1alpha1.ReasonActive, meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionReady).Reason,
		"the policy itself stays valid and active")

	failing.Store(false)
	createEvent(t, c, "delivering", "ok", "Warning", "BackOff", "Pod", "a")
	require.Eventually(t, func() bool {
		d := delivering()
		return d != nil && d.Status == metav1.ConditionTrue
	}, 10*time.Second, 20*time.Millisecond, "Delivering never recovered")
	assert.Equal(t, v1alpha1.ReasonDelivered, delivering().Reason)
}

// TestEveryDeliveryResultHasAVerdict ties deliveryVerdicts to the outcome
// table: an outcome a Deliverer can return must be classified explicitly
// (delivered, failed, or refused before any call).
func TestEveryDeliveryResultHasAVerdict(t *testing.T) {
	for o, spec := range &outcomes {
		_, listed := deliveryVerdicts[outcome(o)]
		if spec.result != "" {
			assert.True(t, listed, "outcome %s (result %s) needs a delivery verdict", outcome(o), spec.result)
		} else {
			assert.False(t, listed, "outcome %s is decided without a call", outcome(o))
		}
	}
}
