package remediation

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp"
)

func TestName(t *testing.T) {
	assert.Equal(t, "rem-0123456789abcdef0123456789abcdef", Name("0123456789abcdef0123456789abcdef"), "the Idempotency-Key as is")
	other := Name("not a key/with slashes")
	assert.Len(t, other, 36)
	assert.True(t, strings.HasPrefix(other, "rem-"))
	assert.Equal(t, other, Name("not a key/with slashes"), "deterministic")
}

// TestPhaseOf: each delivery result puts its record in one phase; results
// decided before any call get none.
func TestPhaseOf(t *testing.T) {
	tests := map[string]struct {
		result v1alpha1.OutcomeResult
		res    *mcp.Result
		want   v1alpha1.RemediationPhase
		ok     bool
	}{
		"proposal":          {v1alpha1.OutcomeAnalysisCompleted, &mcp.Result{Status: "awaiting_user_approval", SessionID: "rem-1"}, v1alpha1.PhaseAwaitingApproval, true},
		"proposal, no id":   {v1alpha1.OutcomeAnalysisCompleted, &mcp.Result{Status: "awaiting_user_approval"}, v1alpha1.PhaseAnalyzed, true},
		"below threshold":   {v1alpha1.OutcomeAnalysisCompleted, &mcp.Result{Status: "success", SessionID: "rem-1"}, v1alpha1.PhaseAnalyzed, true},
		"executed":          {v1alpha1.OutcomeRemediationSucceeded, &mcp.Result{Status: "success", Executed: true}, v1alpha1.PhaseSucceeded, true},
		"partial":           {v1alpha1.OutcomeRemediationFailed, &mcp.Result{Status: "partially_resolved"}, v1alpha1.PhasePartiallyResolved, true},
		"failed":            {v1alpha1.OutcomeRemediationFailed, &mcp.Result{Status: "failed"}, v1alpha1.PhaseFailed, true},
		"delivery failed":   {v1alpha1.OutcomeDeliveryFailed, nil, v1alpha1.PhaseFailed, true},
		"interrupted":       {v1alpha1.OutcomeInterrupted, nil, v1alpha1.PhaseInterrupted, true},
		"budget":            {v1alpha1.OutcomeBudgetExceeded, nil, "", false},
		"dry run":           {v1alpha1.OutcomeDryRun, nil, "", false},
		"over the open cap": {v1alpha1.OutcomeProposalCapReached, nil, "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := PhaseOf(&v1alpha1.RemediationOutcome{Result: tc.result}, tc.res)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestApplyBounds: dot-ai's answer is shortened to the record's bounds and
// unknown risk levels are dropped, so the write never fails validation.
func TestApplyBounds(t *testing.T) {
	long := strings.Repeat("é", 5000)
	res := &mcp.Result{Status: "success", SessionID: "rem-1", Executed: true,
		Analysis:    &mcp.Analysis{RootCause: long, Confidence: 0.7, Factors: make([]string, 30)},
		Remediation: &mcp.Remediation{Summary: long, Risk: "extreme", Actions: make([]mcp.Action, 40)},
		Results:     make([]mcp.ActionResult, 40), ExecutedCommands: make([]string, 40),
		Validation: &mcp.Validation{Success: true, Summary: long},
	}
	res.Remediation.Actions[0] = mcp.Action{Command: long, Risk: "medium"}
	var st v1alpha1.RemediationStatus
	Apply(&st, v1alpha1.PhaseSucceeded, &v1alpha1.RemediationOutcome{Message: long}, res, time.Unix(1, 0))
	assert.Len(t, []rune(st.Message), v1alpha1.MaxRemediationMessageLength)
	assert.Len(t, []rune(st.Analysis.RootCause), v1alpha1.MaxRemediationRootCauseLength)
	assert.Len(t, st.Analysis.Factors, v1alpha1.MaxRemediationFactors)
	assert.InDelta(t, 0.7, *st.Analysis.Confidence, 1e-9)
	assert.Empty(t, st.Proposal.Risk, "an unknown risk level is dropped")
	assert.Len(t, st.Proposal.Actions, v1alpha1.MaxRemediationActions)
	assert.Equal(t, v1alpha1.RiskMedium, st.Proposal.Actions[0].Risk)
	assert.Len(t, []rune(st.Proposal.Actions[0].Command), v1alpha1.MaxRemediationCommandLength)
	assert.Len(t, st.Execution.Results, v1alpha1.MaxRemediationResults)
	assert.Len(t, st.Execution.ExecutedCommands, v1alpha1.MaxRemediationResults)
	assert.True(t, *st.Execution.ValidationSucceeded)
	assert.NotNil(t, st.CompletedAt, "a terminal phase is completed")
	assert.NotNil(t, st.AnalyzedAt)
}

// TestExecutionOutcome: what the execute call's answer, or its failure,
// makes of the record.
func TestExecutionOutcome(t *testing.T) {
	rec := &v1alpha1.Remediation{Spec: v1alpha1.RemediationSpec{McpURL: "http://127.0.0.1:3456/api/v1/tools/remediate"},
		Status: v1alpha1.RemediationStatus{SessionID: "rem-42"}}
	ok := func(r *mcp.Result) *mcp.Response {
		return &mcp.Response{Envelope: mcp.Envelope{Data: &mcp.Data{Result: r}}}
	}
	tests := map[string]struct {
		resp *mcp.Response
		err  error
		want v1alpha1.RemediationPhase
		msg  string
	}{
		"succeeded":        {ok(&mcp.Result{Status: "success", Executed: true, Validation: &mcp.Validation{Success: true}}), nil, v1alpha1.PhaseSucceeded, ""},
		"validation fails": {ok(&mcp.Result{Status: "success", Executed: true, Validation: &mcp.Validation{Summary: "still crashing"}}), nil, v1alpha1.PhasePartiallyResolved, "still crashing"},
		"partial":          {ok(&mcp.Result{Status: "partially_resolved", Executed: true}), nil, v1alpha1.PhasePartiallyResolved, ""},
		"failed":           {ok(&mcp.Result{Status: "failed", Executed: true, Message: "apply denied"}), nil, v1alpha1.PhaseFailed, "apply denied"},
		"fell back":        {ok(&mcp.Result{Status: "awaiting_user_approval", FallbackReason: "no RBAC"}), nil, v1alpha1.PhaseFailed, "no RBAC"},
		"not sent":         {nil, &mcp.Error{Kind: mcp.KindUnreachable, Code: "CONNECTION_ERROR"}, v1alpha1.PhaseFailed, "not sent"},
		"rejected":         {nil, &mcp.Error{Kind: mcp.KindRejected, Code: "SESSION_NOT_FOUND", Sent: true, StatusCode: 404}, v1alpha1.PhaseFailed, "SESSION_NOT_FOUND"},
		"answer lost":      {nil, &mcp.Error{Kind: mcp.KindUnreachable, Code: "TIMEOUT", Sent: true}, v1alpha1.PhaseInterrupted, "GET http://127.0.0.1:3456/api/v1/sessions/rem-42"},
		"shutdown":         {nil, &mcp.Error{Kind: mcp.KindCanceled, Code: "CANCELED", Sent: true}, v1alpha1.PhaseInterrupted, "not sent again"},
		"other error":      {nil, errors.New("boom"), v1alpha1.PhaseFailed, "boom"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			phase, msg, _ := executionOutcome(tc.resp, tc.err, rec)
			assert.Equal(t, tc.want, phase)
			assert.Contains(t, msg, tc.msg)
		})
	}
}

// TestIndexCap: the cap counts the proposals awaiting a decision per
// namespace; a decided or deleted one frees its slot.
func TestIndexCap(t *testing.T) {
	x := NewIndex()
	k := func(ns, n string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: n} }
	x.Set(k("a", "1"), v1alpha1.PhaseAnalyzing)
	assert.False(t, x.Full("a", 1), "an analysis in flight is no proposal yet")
	x.Set(k("a", "1"), v1alpha1.PhaseAwaitingApproval)
	x.Set(k("a", "2"), v1alpha1.PhaseAwaitingApproval)
	assert.True(t, x.Full("a", 2))
	assert.False(t, x.Full("b", 2), "per namespace")
	x.Set(k("a", "1"), v1alpha1.PhaseRejected)
	assert.False(t, x.Full("a", 2), "a decided proposal frees its slot")
	x.Set(k("a", "1"), v1alpha1.PhaseAwaitingApproval)
	x.Delete(k("a", "2"))
	assert.Equal(t, 1, x.Open("a"))
	assert.Equal(t, 1, x.Len())
}
