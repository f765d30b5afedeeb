package remediation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/text"
)

// TokenSource resolves the bearer token of a call by the token rules
// (dotai.Deliverer.Token); a non-empty reason means nothing may be sent.
type TokenSource interface {
	Token(ctx context.Context, p *v1alpha1.RemediationPolicy, eff policy.Effective, target string) (token, reason, msg string)
}

// Executor acts on people's decisions: a rejected proposal becomes
// Rejected; an approved one is executed at most once, as
// decision 17 (docs/design/decisions.md#d17) says: Executing is written,
// with the record's resourceVersion, before the execute call leaves, and a
// record found Executing that this process is not executing is never sent
// again but becomes Interrupted.
type Executor struct {
	Records  *Records
	MCP      *mcp.Client
	Tokens   TokenSource
	Settings *config.Settings
	// Policies reads the record's policy (the manager's cached client).
	Policies client.Reader

	inflight sync.Map // types.NamespacedName of the records being executed
}

// executeChoice is dot-ai's choice "execute automatically via MCP".
const executeChoice = 1

// maxConcurrentExecutions bounds the execute calls in flight (each may take
// minutes: dot-ai validates after executing).
const maxConcurrentExecutions = 8

// SetupWithManager registers the reconciler; only records with a decision
// reach it.
func (e *Executor) SetupWithManager(mgr ctrl.Manager) error {
	decided := predicate.NewPredicateFuncs(func(o client.Object) bool {
		r, ok := o.(*v1alpha1.Remediation)
		return ok && r.Spec.Approval != nil &&
			(r.Status.Phase == v1alpha1.PhaseAwaitingApproval || r.Status.Phase == v1alpha1.PhaseExecuting)
	})
	return ctrl.NewControllerManagedBy(mgr).Named("remediation").
		For(&v1alpha1.Remediation{}, builder.WithPredicates(decided)).
		// A process may build more than one manager (the binary's tests run
		// run() repeatedly); the name only labels logs and metrics.
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrentExecutions, SkipNameValidation: new(true)}).
		Complete(e)
}

// Reconcile acts on one record's decision. The record is read uncached: what
// is sent depends on its current phase.
func (e *Executor) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rec v1alpha1.Remediation
	if err := e.Records.Reader.Get(ctx, req.NamespacedName, &rec); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	a := rec.Spec.Approval
	if a == nil {
		return ctrl.Result{}, nil
	}
	switch rec.Status.Phase {
	case v1alpha1.PhaseAwaitingApproval:
		now := e.Records.Clock.Now()
		if x := rec.Status.ExpiresAt; x != nil && now.After(x.Time) {
			return ctrl.Result{}, e.finish(ctx, req.NamespacedName, v1alpha1.PhaseAwaitingApproval, v1alpha1.PhaseExpired,
				"Decided after the approval window ended; nothing is executed", nil)
		}
		if rec.Status.AnalyzedAt != nil {
			decided := now
			if a.DecidedAt != nil {
				decided = a.DecidedAt.Time
			}
			metricApprovalWait.Observe(decided.Sub(rec.Status.AnalyzedAt.Time).Seconds())
		}
		if a.Decision == v1alpha1.DecisionReject {
			return ctrl.Result{}, e.finish(ctx, req.NamespacedName, v1alpha1.PhaseAwaitingApproval, v1alpha1.PhaseRejected, decisionText("Rejected", a), nil)
		}
		if a.Decision == v1alpha1.DecisionApprove {
			return e.execute(ctx, &rec)
		}
	case v1alpha1.PhaseExecuting:
		if _, mine := e.inflight.Load(req.NamespacedName); mine {
			return ctrl.Result{}, nil
		}
		metricExecutions.WithLabelValues("interrupted").Inc()
		return ctrl.Result{}, e.finish(ctx, req.NamespacedName, v1alpha1.PhaseExecuting, v1alpha1.PhaseInterrupted, interruptedText(&rec), nil)
	}
	return ctrl.Result{}, nil
}

func decisionText(what string, a *v1alpha1.RemediationApproval) string {
	s := what
	if a.DecidedBy != "" {
		s += " by " + a.DecidedBy
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}

// interruptedText tells the user how to check the session in dot-ai.
func interruptedText(rec *v1alpha1.Remediation) string {
	base := rec.Spec.McpURL
	if i := strings.Index(base, "/api/v1/tools/"); i >= 0 {
		base = base[:i]
	}
	return fmt.Sprintf("The controller stopped while the execute call of dot-ai session %s was in flight; it is not sent again. "+
		"Check the session: GET %s/api/v1/sessions/%s (docs/remediations.md#interrupted)", rec.Status.SessionID, base, rec.Status.SessionID)
}

// execute runs an approved proposal once.
func (e *Executor) execute(ctx context.Context, rec *v1alpha1.Remediation) (ctrl.Result, error) {
	key := types.NamespacedName{Namespace: rec.Namespace, Name: rec.Name}
	e.inflight.Store(key, struct{}{})
	defer e.inflight.Delete(key)
	log := e.Records.Log.WithValues("record", key)

	ok, err := e.Records.Sealer.Verify(ctx, rec)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		log.Info("Approved record carries no valid seal; nothing executed")
		return e.refuse(ctx, key, "The record does not carry this controller's seal (it was not created by the controller, or its recorded fields changed); nothing is executed")
	}
	if rec.Status.SessionID == "" {
		return e.refuse(ctx, key, "The record names no dot-ai session; nothing is executed")
	}
	url := rec.Spec.McpURL
	token, why := e.token(ctx, rec)
	if why != "" {
		return e.refuse(ctx, key, why)
	}
	if wait := e.MCP.BreakerWait(url); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}

	// Executing before the request leaves. The write carries the record's
	// resourceVersion: a change meanwhile is a conflict and nothing is sent.
	a := rec.Spec.Approval
	rec.Status.Phase = v1alpha1.PhaseExecuting
	rec.Status.Message = decisionText("Approved", a) + "; executing"
	rec.Status.Execution = &v1alpha1.RemediationExecution{StartedAt: new(metav1.NewTime(e.Records.Clock.Now()))}
	if err := e.Records.writeStatus(ctx, rec); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, err
	}
	e.Records.Index.Set(key, v1alpha1.PhaseExecuting)
	e.Records.event(rec, v1alpha1.PhaseAwaitingApproval, v1alpha1.PhaseExecuting)

	resp, callErr := e.MCP.Do(ctx, mcp.Call{
		URL: url, Token: token,
		IdempotencyKey: delivery.IdempotencyKey(rec.Spec.IdempotencyKey, "execute"),
		Body:           &mcp.Request{SessionID: rec.Status.SessionID, ExecuteChoice: executeChoice},
	})
	// The answer is recorded even when shutdown began meanwhile.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	phase, msg, res := executionOutcome(resp, callErr, rec)
	metricExecutions.WithLabelValues(executionLabel[phase]).Inc()
	return ctrl.Result{}, e.finish(wctx, key, v1alpha1.PhaseExecuting, phase, msg, res)
}

// executionLabel is the outcome label of dotai_remediation_executions_total.
var executionLabel = map[v1alpha1.RemediationPhase]string{
	v1alpha1.PhaseSucceeded: "succeeded", v1alpha1.PhasePartiallyResolved: "partially_resolved",
	v1alpha1.PhaseFailed: "failed", v1alpha1.PhaseInterrupted: "interrupted",
}

// executionOutcome maps the execute call's answer to the record's phase.
func executionOutcome(resp *mcp.Response, err error, rec *v1alpha1.Remediation) (v1alpha1.RemediationPhase, string, *mcp.Result) {
	if err != nil {
		var me *mcp.Error
		switch {
		case !errors.As(err, &me):
			return v1alpha1.PhaseFailed, "Execute call failed: " + err.Error(), nil
		case !me.Sent:
			return v1alpha1.PhaseFailed, "Execute call not sent, nothing was executed: " + me.Error(), nil
		case me.Kind == mcp.KindUnreachable || me.Kind == mcp.KindCanceled:
			return v1alpha1.PhaseInterrupted, interruptedText(rec) + " (" + me.Error() + ")", nil
		}
		return v1alpha1.PhaseFailed, me.Error(), nil
	}
	r := resp.Envelope.Data.Result
	switch {
	case r.Status == "partially_resolved":
		return v1alpha1.PhasePartiallyResolved, r.Message, r
	case r.Status == "failed":
		return v1alpha1.PhaseFailed, r.Message, r
	case !r.Executed:
		msg := "dot-ai did not execute the proposal"
		if r.FallbackReason != "" {
			msg += ": " + r.FallbackReason
		}
		return v1alpha1.PhaseFailed, msg, r
	case r.Validation != nil && !r.Validation.Success:
		return v1alpha1.PhasePartiallyResolved, r.Validation.Summary, r
	}
	return v1alpha1.PhaseSucceeded, r.Message, r
}

// refuse ends an approved record that must not be executed: nothing is sent.
func (e *Executor) refuse(ctx context.Context, key types.NamespacedName, msg string) (ctrl.Result, error) {
	metricExecutions.WithLabelValues("refused").Inc()
	return ctrl.Result{}, e.finish(ctx, key, v1alpha1.PhaseAwaitingApproval, v1alpha1.PhaseFailed, msg, nil)
}

// finish moves a record from phase from to phase to, with dot-ai's answer.
func (e *Executor) finish(ctx context.Context, key types.NamespacedName, from, to v1alpha1.RemediationPhase, msg string, res *mcp.Result) error {
	now := e.Records.Clock.Now()
	_, err := e.Records.Update(ctx, key, func(cur *v1alpha1.Remediation) bool {
		if cur.Status.Phase != from {
			return false
		}
		st := &cur.Status
		session := st.SessionID
		if res != nil {
			ApplyAnswer(st, res)
		}
		st.SessionID = session // the execute answer cannot move the record to another session
		st.Phase, st.Message = to, text.TruncateRunes(msg, v1alpha1.MaxRemediationMessageLength)
		st.ExpiresAt = nil
		if to.Terminal() {
			st.CompletedAt = new(metav1.NewTime(now))
		}
		return true
	})
	return err
}

// token is the credential the token rules allow for the recorded URL, or why
// none is: the policy's own Secret while the policy (same UID) still sends
// to that URL, else the installation's token, only to an allowed URL.
func (e *Executor) token(ctx context.Context, rec *v1alpha1.Remediation) (string, string) {
	url := rec.Spec.McpURL
	var p v1alpha1.RemediationPolicy
	ref := rec.Spec.Policy
	if err := e.Policies.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &p); err == nil && string(p.UID) == ref.UID {
		eff := policy.Resolve(&p, policy.NoSelector, e.Settings)
		if u, err := eff.ToolURL(); err == nil && u == url {
			tok, reason, msg := e.Tokens.Token(ctx, &p, eff, url)
			if reason != "" {
				return "", msg
			}
			return tok, ""
		}
	}
	if !e.Settings.IsAllowedEndpoint(url) {
		return "", "The recorded URL is not in the installation's allowed MCP endpoints and no policy Secret applies to it any more; nothing is executed"
	}
	tok, reason, msg := e.Tokens.Token(ctx, &v1alpha1.RemediationPolicy{}, policy.Effective{Endpoint: url, EndpointAllowed: true}, url)
	if reason != "" {
		return "", msg
	}
	return tok, ""
}
