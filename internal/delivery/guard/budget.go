package guard

import (
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// budgetWindow is the window the budget's limits apply to.
const budgetWindow = time.Hour

// Budget bounds analysis calls in any sliding hour, installation-wide and per
// namespace. It keeps the time and namespace of every call of the last hour
// (a sliding log): exact, and bounded by the installation's limit; the
// per-namespace counts are derived from that one log. It lives in memory, so
// a restart starts with an empty hour.
type Budget struct {
	clock        clock.PassiveClock
	limit, perNS int

	mu  sync.Mutex
	all []call         // oldest first
	ns  map[string]int // calls of all per namespace; no zero entries
}

// call is one call of the installation's log.
type call struct {
	at time.Time
	ns string
}

// NewBudget allows limit calls per hour in all and perNamespace per hour in
// each namespace.
func NewBudget(c clock.PassiveClock, limit, perNamespace int) *Budget {
	return &Budget{clock: c, limit: limit, perNS: perNamespace, ns: map[string]int{}}
}

// Exceeded says which limit refused a call.
type Exceeded int

const (
	// Within means the call may go ahead.
	Within Exceeded = iota
	// InstallationExceeded means the installation's calls per hour are spent.
	InstallationExceeded
	// NamespaceExceeded means the namespace's calls per hour are spent.
	NamespaceExceeded
)

// Take spends one call of ns's budget and the installation's if both have one
// left; it returns the call's token for Refund, or which limit refused it.
func (b *Budget) Take(ns string) (time.Time, Exceeded) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.expire(now)
	switch {
	case len(b.all) >= b.limit:
		return time.Time{}, InstallationExceeded
	case b.ns[ns] >= b.perNS:
		return time.Time{}, NamespaceExceeded
	}
	b.all = append(b.all, call{now, ns})
	b.ns[ns]++
	return now, Within
}

// Refund gives back a call Take granted that was never made.
func (b *Budget) Refund(ns string, token time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, c := range slices.Backward(b.all) {
		if c.ns == ns && c.at.Equal(token) {
			b.all = slices.Delete(b.all, i, i+1)
			b.uncount(ns)
			return
		}
	}
}

// Used reports the calls counted in the last hour, installation-wide and in
// ns.
func (b *Budget) Used(ns string) (all, inNamespace int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(b.clock.Now())
	return len(b.all), b.ns[ns]
}

// expire drops the calls that left the hour: a call made exactly an hour
// ago no longer counts. Namespaces that stopped calling are forgotten.
func (b *Budget) expire(now time.Time) {
	cutoff := now.Add(-budgetWindow)
	i := 0
	for i < len(b.all) && !b.all[i].at.After(cutoff) {
		b.uncount(b.all[i].ns)
		i++
	}
	b.all = b.all[i:]
}

// uncount removes one call of ns from its count.
func (b *Budget) uncount(ns string) {
	b.ns[ns]--
	if b.ns[ns] <= 0 {
		delete(b.ns, ns) // a namespace that stopped calling costs nothing
	}
}
