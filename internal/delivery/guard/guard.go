// Package guard enforces the installation's guardrails on every delivery,
// before anything is gathered or sent: automatic mode only where allowed,
// maxRiskLevel within its namespace's cap (admission checked both, but the
// settings may have changed since), and the analysis budget. It wraps the
// Deliverer that makes the call.
package guard

import (
	"cmp"
	"context"
	"fmt"

	"k8s.io/utils/clock"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/policy"
)

// Deliverer applies the guardrails and hands what passes to the next
// Deliverer.
type Deliverer struct {
	next     delivery.Deliverer
	settings *config.Settings
	budget   *Budget
}

// New wraps next with the guardrails of s; c is the budget's time source.
func New(next delivery.Deliverer, s *config.Settings, c clock.PassiveClock) *Deliverer {
	return &Deliverer{next: next, settings: s, budget: NewBudget(c, s.Guardrails.CallsPerHour, s.Guardrails.NamespaceCallsPerHour)}
}

// Deliver refuses an occurrence beyond the guardrails without calling next:
// a mode or risk level the policy's namespace does not allow ends as
// DeliveryFailed, a spent budget as BudgetExceeded. Manual-mode analyses
// spend the budget too: they cost the same AI time.
func (d *Deliverer) Deliver(ctx context.Context, req delivery.Request) delivery.Result {
	if msg := d.forbidden(req); msg != "" {
		return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeDeliveryFailed, Message: msg}}
	}
	if req.Effective.DryRun {
		return d.next.Deliver(ctx, req) // sends nothing, so spends no budget
	}
	ns := BudgetNamespace(req)
	token, exceeded := d.budget.Take(ns)
	if exceeded != Within {
		return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeBudgetExceeded, Message: d.exceededMessage(exceeded, ns)}}
	}
	res := d.next.Deliver(ctx, req)
	if res.RequeueAfter > 0 {
		d.budget.Refund(ns, token) // no call was made; the occurrence comes back later
	}
	return res
}

// forbidden is the first guardrail the occurrence's settings break, if any.
func (d *Deliverer) forbidden(req delivery.Request) string {
	mode, risk := policy.GuardrailViolations(d.settings, req.Policy.Namespace, req.Effective)
	return cmp.Or(mode, risk)
}

func (d *Deliverer) exceededMessage(e Exceeded, ns string) string {
	if e == InstallationExceeded {
		return fmt.Sprintf(MsgInstallationBudget, d.settings.Guardrails.CallsPerHour)
	}
	return fmt.Sprintf(MsgNamespaceBudget, d.settings.Guardrails.NamespaceCallsPerHour, ns)
}

// Messages of a BudgetExceeded outcome.
const (
	MsgInstallationBudget = "not sent: the installation's analysis budget of %d calls per hour is spent " +
		"(chart value guardrails.budget.callsPerHour)"
	MsgNamespaceBudget = "not sent: the analysis budget of %d calls per hour for namespace %q is spent " +
		"(chart value guardrails.budget.namespaceCallsPerHour)"
)

// BudgetNamespace is the namespace whose budget an occurrence spends: its
// involved object's, so that a namespace whose workloads flood events (text
// its users control) spends its own share, also through a cluster-wide
// policy, while policies of the same namespace share one; the policy's for a
// cluster-scoped object.
func BudgetNamespace(req delivery.Request) string {
	if ns := req.Event.InvolvedObject.Namespace; ns != "" {
		return ns
	}
	return req.Policy.Namespace
}
