package remediation

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/text"
)

// Occurrence is what a record is created from: one delivered occurrence.
type Occurrence struct {
	Request delivery.Request
	// Count and Time are the occurrence's count and time.
	Count int32
	Time  time.Time
	// URL is the remediate URL the call goes to (after the tool path was
	// appended).
	URL string
}

// New builds the record of an occurrence (spec and labels; status is written
// separately, the API ignores it on create). The record lives in the Event's
// namespace, which is the involved object's for namespaced objects.
func New(o Occurrence) *v1alpha1.Remediation {
	req := o.Request
	ev, p := req.Event, req.Policy
	key := delivery.IdempotencyKey(string(p.UID), req.OccurrenceKey)
	mode := req.Effective.Mode
	r := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ev.Namespace,
			Name:      Name(key),
			Labels:    map[string]string{LabelManagedBy: ManagedBy, LabelPolicyUID: string(p.UID), LabelMode: string(mode)},
		},
		Spec: v1alpha1.RemediationSpec{
			Policy: v1alpha1.RemediationPolicyReference{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)},
			Event: v1alpha1.RemediationEvent{
				Name: ev.Name, UID: string(ev.UID), Count: o.Count,
				Reason:  text.TruncateRunes(ev.Reason, v1alpha1.MaxOutcomeReasonLength),
				Message: text.TruncateRunes(ev.Message, v1alpha1.MaxRemediationTextLength),
				InvolvedObject: v1alpha1.RemediationObjectReference{
					Kind: ev.InvolvedObject.Kind, Name: ev.InvolvedObject.Name,
					Namespace: ev.InvolvedObject.Namespace, UID: string(ev.InvolvedObject.UID),
				},
			},
			Mode:           mode,
			McpURL:         o.URL,
			IdempotencyKey: key,
		},
	}
	if !o.Time.IsZero() {
		r.Spec.Event.Time = new(metav1.NewTime(o.Time.Truncate(time.Second)))
	}
	return r
}

// PhaseOf is the phase a delivery's result puts its record in; ok is false
// for results that get no record (nothing was asked of dot-ai).
func PhaseOf(out *v1alpha1.RemediationOutcome, res *mcp.Result) (v1alpha1.RemediationPhase, bool) {
	switch out.Result {
	case v1alpha1.OutcomeRemediationSucceeded:
		return v1alpha1.PhaseSucceeded, true
	case v1alpha1.OutcomeRemediationFailed:
		if res != nil && res.Status == "partially_resolved" {
			return v1alpha1.PhasePartiallyResolved, true
		}
		return v1alpha1.PhaseFailed, true
	case v1alpha1.OutcomeDeliveryFailed:
		return v1alpha1.PhaseFailed, true
	case v1alpha1.OutcomeInterrupted:
		return v1alpha1.PhaseInterrupted, true
	case v1alpha1.OutcomeAnalysisCompleted:
		if res != nil && res.Status == "awaiting_user_approval" && res.SessionID != "" {
			return v1alpha1.PhaseAwaitingApproval, true
		}
		return v1alpha1.PhaseAnalyzed, true
	}
	return "", false
}

// OutcomeOf is the outcome of the delivery that left a record in phase p,
// for counting it when its checkpoint was lost.
func OutcomeOf(p v1alpha1.RemediationPhase, mcpStatus string) v1alpha1.OutcomeResult {
	switch p {
	case v1alpha1.PhaseSucceeded:
		return v1alpha1.OutcomeRemediationSucceeded
	case v1alpha1.PhasePartiallyResolved:
		return v1alpha1.OutcomeRemediationFailed
	case v1alpha1.PhaseFailed:
		if mcpStatus == "failed" {
			return v1alpha1.OutcomeRemediationFailed
		}
		return v1alpha1.OutcomeDeliveryFailed
	case v1alpha1.PhaseAnalyzed, v1alpha1.PhaseAwaitingApproval:
		return v1alpha1.OutcomeAnalysisCompleted
	}
	return v1alpha1.OutcomeInterrupted
}

// Apply writes a delivery's outcome and dot-ai's answer into the status.
func Apply(st *v1alpha1.RemediationStatus, phase v1alpha1.RemediationPhase, out *v1alpha1.RemediationOutcome, res *mcp.Result, now time.Time) {
	st.Phase = phase
	st.McpStatus = text.TruncateRunes(out.McpStatus, v1alpha1.MaxOutcomeMcpStatusLength)
	st.Message = text.TruncateRunes(out.Message, v1alpha1.MaxRemediationMessageLength)
	if res != nil {
		ApplyAnswer(st, res)
		if res.Analysis != nil || res.Remediation != nil {
			st.AnalyzedAt = new(metav1.NewTime(now))
		}
	}
	if phase.Terminal() {
		st.CompletedAt = new(metav1.NewTime(now))
	}
}

// ApplyAnswer copies dot-ai's answer (analysis, proposal, execution) into the
// status, shortened to the record's bounds.
func ApplyAnswer(st *v1alpha1.RemediationStatus, res *mcp.Result) {
	if res.SessionID != "" {
		st.SessionID = text.TruncateRunes(res.SessionID, v1alpha1.MaxOutcomeSessionIDLength)
	}
	if res.Status != "" {
		st.McpStatus = text.TruncateRunes(res.Status, v1alpha1.MaxOutcomeMcpStatusLength)
	}
	if a := res.Analysis; a != nil {
		an := &v1alpha1.RemediationAnalysis{RootCause: text.TruncateRunes(a.RootCause, v1alpha1.MaxRemediationRootCauseLength)}
		if a.Confidence >= 0 && a.Confidence <= 1 {
			an.Confidence = new(a.Confidence)
		}
		for _, f := range a.Factors[:min(len(a.Factors), v1alpha1.MaxRemediationFactors)] {
			an.Factors = append(an.Factors, text.TruncateRunes(f, v1alpha1.MaxRemediationFactorLength))
		}
		st.Analysis = an
	}
	if rm := res.Remediation; rm != nil {
		pr := &v1alpha1.RemediationProposal{Summary: text.TruncateRunes(rm.Summary, v1alpha1.MaxRemediationTextLength), Risk: risk(rm.Risk)}
		for _, a := range rm.Actions[:min(len(rm.Actions), v1alpha1.MaxRemediationActions)] {
			pr.Actions = append(pr.Actions, v1alpha1.RemediationAction{
				Description: text.TruncateRunes(a.Description, v1alpha1.MaxRemediationTextLength),
				Command:     text.TruncateRunes(a.Command, v1alpha1.MaxRemediationCommandLength),
				Risk:        risk(a.Risk),
				Rationale:   text.TruncateRunes(a.Rationale, v1alpha1.MaxRemediationTextLength),
			})
		}
		st.Proposal = pr
	}
	if res.Executed || len(res.Results) > 0 || len(res.ExecutedCommands) > 0 {
		ex := st.Execution
		if ex == nil {
			ex = &v1alpha1.RemediationExecution{}
		}
		ex.ExecutedCommands = nil
		for _, c := range res.ExecutedCommands[:min(len(res.ExecutedCommands), v1alpha1.MaxRemediationResults)] {
			ex.ExecutedCommands = append(ex.ExecutedCommands, text.TruncateRunes(c, v1alpha1.MaxRemediationCommandLength))
		}
		ex.Results = nil
		for _, r := range res.Results[:min(len(res.Results), v1alpha1.MaxRemediationResults)] {
			ex.Results = append(ex.Results, v1alpha1.RemediationResult{
				Action:  text.TruncateRunes(r.Action, v1alpha1.MaxRemediationCommandLength),
				Success: r.Success,
				Output:  text.TruncateRunes(r.Output, v1alpha1.MaxRemediationOutputLength),
				Error:   text.TruncateRunes(r.Error, v1alpha1.MaxRemediationOutputLength),
			})
		}
		if v := res.Validation; v != nil {
			ex.ValidationSucceeded = new(v.Success)
			ex.ValidationSummary = text.TruncateRunes(v.Summary, v1alpha1.MaxRemediationTextLength)
		}
		st.Execution = ex
	}
}

// risk keeps a risk level the record's enum admits and drops any other.
func risk(s string) v1alpha1.RiskLevel {
	if l := v1alpha1.RiskLevel(s); l.Rank() > 0 {
		return l
	}
	return ""
}
