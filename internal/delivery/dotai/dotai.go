// Package dotai implements delivery.Deliverer for dot-ai: it resolves a policy's
// endpoint and token, enriches the event, calls dot-ai's remediate tool and
// maps the answer to a RemediationOutcome.
package dotai

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/text"
)

// Options configure a Deliverer.
type Options struct {
	// Settings are the installation's settings (endpoint, allow-list, token
	// file, defaults). Required.
	Settings *config.Settings
	// Enricher gathers the event's context. Required.
	Enricher *enricher.Enricher
	// Client calls dot-ai. Required.
	Client *mcp.Client
	// Secrets reads mcpAuthSecretRef Secrets; it must be uncached
	// (mgr.GetAPIReader()): RBAC grants get on Secrets, not list/watch.
	Secrets client.Reader
	// Clock stamps outcomes. Default: the real clock.
	Clock clock.PassiveClock
	// Log is the logger. Default: discard.
	Log logr.Logger
}

// Deliverer is the delivery.Deliverer of the controller.
type Deliverer struct {
	opts Options
}

var _ delivery.Deliverer = (*Deliverer)(nil)

// New returns a Deliverer.
func New(o Options) *Deliverer {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	return &Deliverer{opts: o}
}

// IdempotencyKey is delivery.IdempotencyKey, kept for callers of this
// package.
func IdempotencyKey(policyUID, occurrenceKey string) string {
	return delivery.IdempotencyKey(policyUID, occurrenceKey)
}

// Deliver implements delivery.Deliverer.
func (d *Deliverer) Deliver(ctx context.Context, req delivery.Request) (res delivery.Result) {
	defer func() {
		if r := recover(); r != nil {
			d.opts.Log.Error(fmt.Errorf("panic: %v", r), "Delivery panicked")
			res = d.failed(req, "INTERNAL_ERROR", fmt.Sprintf("delivery panicked: %v", r))
		}
	}()
	if req.Policy == nil || req.Event == nil {
		return d.failed(req, "INVALID_REQUEST", "delivery request without policy or event")
	}
	log := d.opts.Log.WithValues("policy", req.Policy.Namespace+"/"+req.Policy.Name, "event", req.Event.Namespace+"/"+req.Event.Name)
	eff := req.Effective

	if eff.DryRun { // no endpoint, breaker or token is involved: nothing is sent
		return d.dryRun(req, d.BuildRequest(ctx, req))
	}
	if eff.Endpoint == "" {
		r := d.failed(req, "NO_ENDPOINT", "no MCP endpoint: the policy has no mcpEndpoint and the installation has no default (--mcp-endpoint)")
		r.ConditionReason, r.ConditionMessage = v1alpha1.ReasonMCPUnreachable, r.Outcome.Message
		return r
	}
	target, err := eff.ToolURL()
	if err != nil {
		r := d.failed(req, "INVALID_ENDPOINT", "spec.mcpEndpoint: "+err.Error())
		r.ConditionReason, r.ConditionMessage = v1alpha1.ReasonMCPUnreachable, r.Outcome.Message
		return r
	}
	// An open breaker: nothing is sent, the event stays queued.
	if wait := d.opts.Client.BreakerWait(target); wait > 0 {
		if !d.withinHold(req) {
			return d.unreachable(req, target, "CIRCUIT_OPEN", "circuit breaker open after repeated failures; outage hold exceeded")
		}
		return d.held(target, wait, "circuit breaker open after repeated failures")
	}
	token, reason, msg := d.Token(ctx, req.Policy, eff, target)
	if reason != "" {
		r := d.failed(req, "INVALID_SECRET_REF", msg)
		r.ConditionReason, r.ConditionMessage = reason, msg
		return r
	}

	body := d.BuildRequest(ctx, req)
	idemKey := delivery.IdempotencyKey(string(req.Policy.UID), req.OccurrenceKey)
	if req.BeforeSend != nil {
		if r, stop := d.beforeSend(ctx, req, idemKey); stop {
			return r
		}
	}
	resp, err := d.opts.Client.Do(ctx, mcp.Call{
		URL:            target,
		Token:          token,
		IdempotencyKey: idemKey,
		Body:           body,
	})
	if err != nil {
		var e *mcp.Error
		if !errors.As(err, &e) {
			return d.failed(req, "ERROR", err.Error())
		}
		switch {
		case e.Kind == mcp.KindBreakerOpen && d.withinHold(req):
			return d.held(target, e.RetryAfter, "circuit breaker open after repeated failures")
		case e.Kind == mcp.KindCanceled && !e.Sent:
			// Shutting down before anything was sent: keep the event.
			return delivery.Result{RequeueAfter: time.Second}
		case e.Kind == mcp.KindUnreachable && d.holdable(req, e):
			log.V(1).Info("MCP endpoint unreachable, event held", "code", e.Code, "attempts", e.Attempts, "endpoint", target)
			return d.held(target, max(d.opts.Client.BreakerWait(target), OutageRetry), e.Error())
		}
		log.Info("MCP call failed", "code", e.Code, "status", e.StatusCode, "attempts", e.Attempts, "endpoint", target)
		r := d.failed(req, e.Code, e.Error())
		switch e.Kind {
		case mcp.KindUnauthorized:
			r.ConditionReason = v1alpha1.ReasonMCPUnauthorized
		case mcp.KindUnreachable, mcp.KindBreakerOpen:
			r.ConditionReason = v1alpha1.ReasonMCPUnreachable
		}
		if r.ConditionReason != "" {
			r.ConditionMessage = text.TruncateRunes(fmt.Sprintf("%s: %s", target, e.Error()), v1alpha1.MaxConditionMessageLength)
		}
		return r
	}
	out := delivery.Result{Outcome: d.MapResponse(req, resp)}
	if data := resp.Envelope.Data; data != nil {
		out.Report = data.Result
	}
	return out
}

// dryRun is the outcome of a dry-run policy's occurrence: the request was
// built as for real (enrichment included) and not sent; the message carries
// the issue text it would have sent, shortened to the outcome's bound.
func (d *Deliverer) dryRun(req delivery.Request, body *mcp.Request) delivery.Result {
	out := d.base(req)
	out.Result = v1alpha1.OutcomeDryRun
	out.Message = text.TruncateRunes(fmt.Sprintf("dry run, not sent (%d-character issue, mode %s): %s",
		len([]rune(body.Issue)), body.Mode, body.Issue), v1alpha1.MaxOutcomeMessageLength)
	return delivery.Result{Outcome: out}
}

// beforeSend persists the call's write-ahead intent. When that fails nothing
// is sent: an existing intent ends the occurrence as Interrupted, any other
// error holds it (or fails it past the outage hold).
func (d *Deliverer) beforeSend(ctx context.Context, req delivery.Request, idemKey string) (delivery.Result, bool) {
	err := req.BeforeSend(ctx)
	switch {
	case err == nil:
		return delivery.Result{}, false
	case errors.Is(err, delivery.ErrInterrupted):
		out := d.base(req)
		in := delivery.Interrupted(idemKey, "An earlier controller process wrote this call's intent and stopped before its outcome was recorded")
		out.Result, out.Message = in.Result, in.Message
		return delivery.Result{Outcome: out}, true
	case errors.Is(err, delivery.ErrAnswered):
		out := d.base(req)
		out.Result = v1alpha1.OutcomeAnalysisCompleted
		out.Message = "An earlier controller process sent this analysis and recorded dot-ai's answer in the occurrence's Remediation record; not sent again"
		return delivery.Result{Outcome: out}, true
	case ctx.Err() != nil:
		return delivery.Result{RequeueAfter: time.Second}, true
	case !d.withinHold(req):
		return d.failed(req, "INTENT_NOT_WRITTEN", "the occurrence's Remediation record (its write-ahead intent) could not be written, so nothing was sent: "+err.Error()), true
	default:
		d.opts.Log.Info("Remediation record not written; event held", "error", err.Error())
		return delivery.Result{RequeueAfter: OutageRetry}, true
	}
}

// OutageRetry is the least wait before a held event is offered again, so an
// outage never turns into a hot loop even when the breaker is closed.
const OutageRetry = 10 * time.Second

// holdable reports whether a call that found the endpoint unreachable may
// stay queued for another try: only within the outage hold, and only when
// repeating it cannot repeat a remediation (decision 5 (docs/design/decisions.md#d5)).
func (d *Deliverer) holdable(req delivery.Request, e *mcp.Error) bool {
	return d.withinHold(req) && (!e.Sent || req.Effective.Mode != v1alpha1.ModeAutomatic)
}

// withinHold reports whether the event was first seen less than the outage
// hold ago.
func (d *Deliverer) withinHold(req delivery.Request) bool {
	hold := d.opts.Settings.MCPOutageHold
	return hold > 0 && d.opts.Clock.Since(req.SeenAt) < hold
}

// unreachable is the failed outcome of an event whose endpoint stayed
// unreachable past the outage hold.
func (d *Deliverer) unreachable(req delivery.Request, target, code, msg string) delivery.Result {
	r := d.failed(req, code, msg)
	r.ConditionReason = v1alpha1.ReasonMCPUnreachable
	r.ConditionMessage = text.TruncateRunes(target+": "+msg, v1alpha1.MaxConditionMessageLength)
	return r
}

// held keeps the event queued for wait and reports the outage in the
// policy's Ready condition.
func (d *Deliverer) held(target string, wait time.Duration, msg string) delivery.Result {
	return delivery.Result{
		RequeueAfter:     wait,
		ConditionReason:  v1alpha1.ReasonMCPUnreachable,
		ConditionMessage: text.TruncateRunes(fmt.Sprintf("%s: %s; events stay queued and are retried", target, msg), v1alpha1.MaxConditionMessageLength),
	}
}

// BuildRequest enriches the event as the policy asks and builds the
// remediate request body.
func (d *Deliverer) BuildRequest(ctx context.Context, req delivery.Request) *mcp.Request {
	ectx := d.opts.Enricher.Enrich(ctx, req.Event, req.Effective.Context)
	return BuildRequest(req, ectx)
}

// BuildRequest builds the request body from an enrichment, with the
// request's effective mode, threshold and risk level.
func BuildRequest(req delivery.Request, ectx *enricher.Context) *mcp.Request {
	mode := req.Effective.Mode
	body := &mcp.Request{
		Issue:     ectx.Issue(mcp.MaxIssueUTF16),
		Mode:      string(mode),
		Context:   toWire(ectx),
		Policy:    req.Policy.Name,
		PolicyRef: &mcp.PolicyRef{Namespace: req.Policy.Namespace, Name: req.Policy.Name},
	}
	if mode == v1alpha1.ModeAutomatic {
		ct := req.Effective.ConfidenceThreshold
		body.ConfidenceThreshold = &ct
		body.MaxRiskLevel = string(req.Effective.MaxRiskLevel)
	}
	return body
}

// Token resolves the bearer token for a call of policy p (settings eff) to
// target, by the token rules of decision 1 (docs/design/decisions.md#d1):
// the policy's own Secret when it names one, else the installation's token
// only for an allowed target. A non-empty reason means the call must not
// happen (and no token is sent). The execute call of an approved proposal
// uses it too (internal/remediation).
func (d *Deliverer) Token(ctx context.Context, p *v1alpha1.RemediationPolicy, eff policy.Effective, target string) (token, reason, msg string) {
	if ref := eff.AuthSecretRef; ref != nil {
		if d.opts.Secrets == nil {
			return "", v1alpha1.ReasonInvalidSecretRef, "spec.mcpAuthSecretRef: no Secret reader configured"
		}
		var s corev1.Secret
		err := d.opts.Secrets.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: ref.Name}, &s)
		switch {
		case apierrors.IsNotFound(err):
			return "", v1alpha1.ReasonInvalidSecretRef, fmt.Sprintf("spec.mcpAuthSecretRef.name: Secret %s/%s not found", p.Namespace, ref.Name)
		case apierrors.IsForbidden(err):
			return "", v1alpha1.ReasonInvalidSecretRef, fmt.Sprintf("spec.mcpAuthSecretRef.name: reading Secret %s/%s is forbidden", p.Namespace, ref.Name)
		case err != nil:
			return "", v1alpha1.ReasonInvalidSecretRef, fmt.Sprintf("spec.mcpAuthSecretRef.name: reading Secret %s/%s: %v", p.Namespace, ref.Name, err)
		}
		v, ok := s.Data[ref.Key]
		t := strings.TrimSpace(string(v))
		if !ok || t == "" {
			return "", v1alpha1.ReasonInvalidSecretRef, fmt.Sprintf("spec.mcpAuthSecretRef.key: Secret %s/%s has no non-empty key %q", p.Namespace, ref.Name, ref.Key)
		}
		return t, "", ""
	}
	// The request URL itself is checked too, after the tool path was
	// appended: decision 19 (docs/design/decisions.md#d19).
	if !eff.EndpointAllowed || !d.opts.Settings.IsAllowedEndpoint(target) {
		return "", v1alpha1.ReasonInvalidSecretRef, fmt.Sprintf("spec.mcpAuthSecretRef: required because spec.mcpEndpoint %s is not in the installation's allowed endpoints", eff.Endpoint)
	}
	if d.opts.Settings.MCPTokenFile == "" {
		return "", "", ""
	}
	// Re-read on every call: a rotated token needs no restart.
	b, err := os.ReadFile(d.opts.Settings.MCPTokenFile)
	if err != nil {
		return "", v1alpha1.ReasonInvalidSecretRef, "installation token file (--mcp-token-file) not readable: " + err.Error()
	}
	return strings.TrimSpace(string(b)), "", ""
}

func (d *Deliverer) base(req delivery.Request) v1alpha1.RemediationOutcome {
	o := v1alpha1.RemediationOutcome{Time: metav1.NewTime(d.opts.Clock.Now())}
	if ev := req.Event; ev != nil {
		o.Event = text.TruncateRunes(ev.Namespace+"/"+ev.Name, v1alpha1.MaxOutcomeEventLength)
		o.Reason = text.TruncateRunes(ev.Reason, v1alpha1.MaxOutcomeReasonLength)
		o.InvolvedObject = text.TruncateRunes(ev.InvolvedObject.Kind+"/"+ev.InvolvedObject.Name, v1alpha1.MaxOutcomeInvolvedObjectLength)
	}
	return o
}

func (d *Deliverer) failed(req delivery.Request, code, msg string) delivery.Result {
	o := d.base(req)
	o.Result = v1alpha1.OutcomeDeliveryFailed
	o.McpStatus = text.TruncateRunes(code, v1alpha1.MaxOutcomeMcpStatusLength)
	o.Message = text.TruncateRunes(msg, v1alpha1.MaxOutcomeMessageLength)
	return delivery.Result{Outcome: o}
}

// MapResponse maps a successful envelope to an outcome.
func (d *Deliverer) MapResponse(req delivery.Request, resp *mcp.Response) v1alpha1.RemediationOutcome {
	o := d.base(req)
	r := resp.Envelope.Data.Result
	o.McpStatus = text.TruncateRunes(r.Status, v1alpha1.MaxOutcomeMcpStatusLength)
	o.SessionID = text.TruncateRunes(r.SessionID, v1alpha1.MaxOutcomeSessionIDLength)
	if r.Analysis != nil {
		rc := r.Analysis.RootCause
		if r.Analysis.Confidence > 0 && rc != "" {
			rc = fmt.Sprintf("%s (confidence %.2f)", rc, r.Analysis.Confidence)
		}
		o.RootCause = text.TruncateRunes(rc, v1alpha1.MaxOutcomeRootCauseLength)
	}
	var parts []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	switch {
	case r.Status == "failed" || r.Status == "partially_resolved":
		o.Result = v1alpha1.OutcomeRemediationFailed
		if r.Validation != nil {
			add(r.Validation.Summary)
		}
		for _, ar := range r.Results {
			if !ar.Success {
				add(fmt.Sprintf("%s failed: %s", ar.Action, ar.Error))
			}
		}
		add(r.Message)
	case r.Executed && r.Validation != nil && !r.Validation.Success:
		o.Result = v1alpha1.OutcomeRemediationFailed
		add(r.Validation.Summary)
		add(r.Message)
	case r.Executed:
		o.Result = v1alpha1.OutcomeRemediationSucceeded
		if r.Validation != nil {
			add(r.Validation.Summary)
		}
		if len(r.ExecutedCommands) > 0 {
			add("executed: " + strings.Join(r.ExecutedCommands, "; "))
		}
		add(r.Message)
	default:
		o.Result = v1alpha1.OutcomeAnalysisCompleted
		if r.FallbackReason != "" {
			add("not executed: " + r.FallbackReason)
		}
		if r.Remediation != nil && r.Remediation.Summary != "" {
			s := "proposed: " + r.Remediation.Summary
			if r.Remediation.Risk != "" {
				s += " (risk " + r.Remediation.Risk + ")"
			}
			if n := len(r.Remediation.Actions); n > 0 {
				s += fmt.Sprintf(", %d action(s)", n)
			}
			add(s)
		}
		if len(parts) == 0 {
			add(r.Message)
		}
	}
	if et := resp.Envelope.Data.ExecutionTime; et > 0 {
		add(fmt.Sprintf("took %s", (time.Duration(et) * time.Millisecond).Round(100*time.Millisecond)))
	}
	o.Message = text.TruncateRunes(strings.Join(parts, "; "), v1alpha1.MaxOutcomeMessageLength)
	return o
}
