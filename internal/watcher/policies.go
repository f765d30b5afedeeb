package watcher

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/policy"
)

// Policy intake: the RemediationPolicy informer's handlers keep one
// policyState per policy, with its checkpoint, validation and compiled
// selectors.

func (w *Watcher) onPolicy(ctx context.Context, obj any) {
	if p, ok := obj.(*v1alpha1.RemediationPolicy); ok {
		w.upsertPolicy(ctx, p)
	}
}

func (w *Watcher) onPolicyDelete(ctx context.Context, obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*v1alpha1.RemediationPolicy)
	if !ok {
		return
	}
	w.mu.Lock()
	ps := w.policies[p.UID]
	delete(w.policies, p.UID)
	w.mu.Unlock()
	if ps != nil {
		ps.mu.Lock()
		ps.deleted = true
		ps.mu.Unlock()
	}
	if err := w.store.DeletePolicy(ctx, p.UID); err != nil {
		w.log.Error(err, "Failed to delete the policy's state", "policy", client.ObjectKeyFromObject(p))
	}
	w.log.Info("Removed RemediationPolicy", "policy", client.ObjectKeyFromObject(p))
}

// upsertPolicy takes in a created or updated policy. The first time it loads
// the policy's checkpoint (retrying every 5s on error: acting without it would
// redeliver handled events); a status-only update just refreshes the
// snapshot. A new generation is validated and compiled once, here, so
// selection never re-parses a policy: an invalid one is kept with its errors
// (Ready=False, InvalidSpec) and not acted on. Suspend and resume are recorded
// in the checkpoint, and a resume moves its Since so that events of the
// suspended period are never delivered.
func (w *Watcher) upsertPolicy(ctx context.Context, p *v1alpha1.RemediationPolicy) {
	w.mu.Lock()
	ps := w.policies[p.UID]
	if ps == nil {
		ps = &policyState{uid: p.UID, key: client.ObjectKeyFromObject(p), pending: map[types.UID]int32{}, lastEmit: map[outcome]time.Time{}}
		w.policies[p.UID] = ps
	}
	w.mu.Unlock()

	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.deleted {
		return
	}
	now := w.clock.Now()
	suspended := p.Spec.Suspend != nil && *p.Spec.Suspend
	if ps.checkpoint == nil {
		if err := w.loadState(ctx, ps, p, suspended); err != nil {
			w.log.Error(err, "Failed to load checkpoint; retrying", "policy", ps.key)
			w.clock.AfterFunc(5*time.Second, func() {
				if !w.stopping.Load() {
					w.upsertPolicy(ctx, p)
				}
			})
			return
		}
	}
	if ps.policy != nil && ps.policy.Generation == p.Generation {
		ps.policy = p.DeepCopy()
		return
	}
	if ps.checkpoint.Suspended && !suspended {
		// Resumed: events of the suspended period are not delivered later.
		// Event times have one-second resolution, so the resume's second
		// still counts as active.
		ps.checkpoint.Since = now.Truncate(time.Second)
		ps.dirty++
	}
	if ps.checkpoint.Suspended != suspended {
		ps.checkpoint.Suspended = suspended
		ps.dirty++
	}
	ps.suspended = suspended
	errs, _ := policy.Validate(w.settings, nil, p)
	compiled, cerrs := policy.Compile(w.settings, p, w.opts.CompileCEL)
	if len(errs) == 0 { // validation already reports regex, CEL and scope errors
		errs = cerrs
	}
	switch admittedSpec, err := w.specAdmitted(ctx, p); {
	case err != nil:
		w.log.Error(err, "Failed to read the policy's admission record; retrying", "policy", ps.key)
		w.clock.AfterFunc(5*time.Second, func() {
			if !w.stopping.Load() {
				w.upsertPolicy(ctx, p)
			}
		})
		return
	case len(errs) > 0:
		ps.compiled, ps.invalid = nil, errs.ToAggregate().Error()
		w.log.Info("RemediationPolicy is invalid; not acting on it", "policy", ps.key, "errors", ps.invalid)
	case !admittedSpec:
		ps.compiled, ps.invalid = nil, notAdmitted
		w.log.Info("RemediationPolicy spec did not pass admission; not acting on it", "policy", ps.key, "generation", p.Generation)
	default:
		ps.compiled, ps.invalid = compiled, ""
	}
	ps.effective = policy.Resolve(p, policy.NoSelector, w.settings)
	ps.policy = p.DeepCopy()
	ps.statusDirty = true
	w.log.V(1).Info("Loaded RemediationPolicy", "policy", ps.key, "generation", p.Generation, "suspended", suspended)
}

// notAdmitted is the InvalidSpec message of a spec the validating webhook
// never recorded.
const notAdmitted = "this spec did not pass the validating webhook (it was written while the webhook was bypassed, " +
	"for example with failurePolicy: Ignore), so its access checks never ran: apply it again with the webhook running"

// specAdmitted reports whether the validating webhook recorded p's spec
// (decision 20 (docs/design/decisions.md#d20)); true without a ledger.
func (w *Watcher) specAdmitted(ctx context.Context, p *v1alpha1.RemediationPolicy) (bool, error) {
	if w.opts.Ledger == nil {
		return true, nil
	}
	return w.opts.Ledger.Admitted(ctx, p)
}

func (w *Watcher) snapshot() []*policyState {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]*policyState, 0, len(w.policies))
	for _, ps := range w.policies {
		out = append(out, ps)
	}
	return out
}
