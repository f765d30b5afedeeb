package remediation

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
)

// Index is the leader's view of every record's phase: it feeds the records
// gauge and counts each namespace's open proposals (AwaitingApproval) for
// the cap. The record informer keeps it current, and the controller's own
// writes update it at once, so a storm of occurrences cannot outrun the cap
// while the informer lags. Analyses in flight are not counted (concurrency
// bounds them), so a namespace holds at most the cap plus the analyses in
// flight when they all end as proposals.
type Index struct {
	mu     sync.Mutex
	phases map[types.NamespacedName]v1alpha1.RemediationPhase
	open   map[string]int
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{phases: map[types.NamespacedName]v1alpha1.RemediationPhase{}, open: map[string]int{}}
}

// isOpen: a proposal that takes a slot of the namespace's cap.
func isOpen(p v1alpha1.RemediationPhase) bool { return p == v1alpha1.PhaseAwaitingApproval }

func phaseLabel(p v1alpha1.RemediationPhase) string {
	if p == "" {
		return "Pending"
	}
	return string(p)
}

// Set records a record's phase.
func (x *Index) Set(key types.NamespacedName, p v1alpha1.RemediationPhase) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.setLocked(key, p)
}

func (x *Index) setLocked(key types.NamespacedName, p v1alpha1.RemediationPhase) {
	old, had := x.phases[key]
	if had && old == p {
		return
	}
	if had {
		x.forget(key, old)
	}
	x.phases[key] = p
	metricRecords.WithLabelValues(phaseLabel(p)).Inc()
	if isOpen(p) {
		x.open[key.Namespace]++
	}
}

func (x *Index) forget(key types.NamespacedName, old v1alpha1.RemediationPhase) {
	delete(x.phases, key)
	metricRecords.WithLabelValues(phaseLabel(old)).Dec()
	if isOpen(old) {
		x.open[key.Namespace]--
		if x.open[key.Namespace] <= 0 {
			delete(x.open, key.Namespace)
		}
	}
}

// Delete forgets a deleted record.
func (x *Index) Delete(key types.NamespacedName) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.phases[key]; ok {
		x.forget(key, old)
	}
}

// Full reports whether namespace ns holds limit open proposals already: a new
// manual-mode occurrence there ends in a counted outcome instead of a
// record.
func (x *Index) Full(ns string, limit int) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.open[ns] >= limit
}

// Open is the number of open proposals in ns.
func (x *Index) Open(ns string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.open[ns]
}

// Len is the number of records known.
func (x *Index) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.phases)
}
