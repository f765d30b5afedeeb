package remediation

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// TestStormBounds is the storm at a size make test affords; the 10,000
// occurrences with the chart's default bounds run in make reliability
// (storm_reliability_test.go).
func TestStormBounds(t *testing.T) {
	stormBounds(t, 500, 25, config.Remediations{ApprovalWindow: 2 * time.Hour, RetentionCount: 25,
		RetentionAge: 7 * 24 * time.Hour, MaxOpenPerNamespace: 5, SealSecret: "s"})
}

// stormBounds delivers total occurrences over four namespaces, as the
// watcher records them (a manual one takes a slot under the cap on open
// proposals first; one in seven is left awaiting a decision until it
// expires), with the sweeper running every sweepEach occurrences as time
// passes. After every sweep no namespace holds more terminal records than
// the retention count nor more open proposals than the cap, and every
// occurrence ended in a record or in the cap's counted outcome.
func stormBounds(t *testing.T, total, sweepEach int, set config.Remediations) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	r := newFakeRecords(t, clk, set)
	s := &Sweeper{Records: r, List: cachedReader{r.Reader}}
	p := testPolicy()
	namespaces := []string{"a", "b", "c", "d"}
	recorded, capped := 0, 0
	maxTerminal, maxOpen := 0, 0
	check := func() {
		for _, ns := range namespaces {
			open, terminal := 0, 0
			for ph, n := range byPhase(t, r, ns) {
				if ph.Terminal() {
					terminal += n
				} else {
					open += n
				}
			}
			require.LessOrEqual(t, terminal, set.RetentionCount, "terminal records of %s after a sweep", ns)
			require.LessOrEqual(t, open, set.MaxOpenPerNamespace, "open proposals of %s", ns)
			assert.Equal(t, open, r.Index.Open(ns), "the index counts %s's open proposals", ns)
			maxTerminal, maxOpen = max(maxTerminal, terminal), max(maxOpen, open)
		}
	}
	deliver := func(i int) {
		ns := namespaces[i%len(namespaces)]
		mode := v1alpha1.ModeManual
		if i%10 < 3 {
			mode = v1alpha1.ModeAutomatic
		}
		rec := occurrence(p, ns, i, mode)
		if mode == v1alpha1.ModeManual && r.Index.Full(ns, set.MaxOpenPerNamespace) {
			capped++
			return
		}
		phase := v1alpha1.PhaseAnalyzing
		if mode == v1alpha1.ModeAutomatic {
			phase = v1alpha1.PhaseExecuting
		}
		_, err := r.Begin(ctx, rec, phase)
		require.NoError(t, err)
		recorded++
		switch {
		case mode == v1alpha1.ModeAutomatic:
			settle(t, r, rec, v1alpha1.PhaseSucceeded)
		case i%7 == 0:
			settle(t, r, rec, v1alpha1.PhaseAwaitingApproval) // left to expire
		default:
			settle(t, r, rec, v1alpha1.PhaseAnalyzed)
		}
	}
	for i := range total {
		deliver(i)
		if (i+1)%sweepEach == 0 {
			clk.Step(5 * time.Minute)
			require.NoError(t, s.Sweep(ctx))
			check()
		}
	}
	assert.Equal(t, total, recorded+capped, "every occurrence ended in a record or the cap's outcome")
	assert.Positive(t, capped, "the storm reached the cap")
	assert.Equal(t, set.RetentionCount, maxTerminal, "retention held a namespace at its bound")
	assert.Equal(t, set.MaxOpenPerNamespace, maxOpen, "the cap held a namespace at its bound")
	t.Logf("%d occurrences: %d recorded, %d over the cap; at most %d terminal and %d open records per namespace",
		total, recorded, capped, maxTerminal, maxOpen)
}
