package guard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestBudgetSlidingHour(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	b := NewBudget(clk, 5, 3)
	take := func(ns string) Exceeded { _, e := b.Take(ns); return e }

	for range 3 {
		assert.Equal(t, Within, take("a"))
	}
	assert.Equal(t, NamespaceExceeded, take("a"), "a's 3 calls per hour are spent")
	assert.Equal(t, Within, take("b"), "b has its own share")
	clk.Step(30 * time.Minute)
	assert.Equal(t, Within, take("b"))
	assert.Equal(t, InstallationExceeded, take("c"), "5 calls in the hour: the installation's budget is spent")
	all, inA := b.Used("a")
	assert.Equal(t, 5, all)
	assert.Equal(t, 3, inA)

	clk.Step(30*time.Minute - time.Nanosecond)
	assert.Equal(t, InstallationExceeded, take("c"), "the first calls are still inside the hour")
	clk.Step(time.Nanosecond)
	assert.Equal(t, Within, take("a"), "calls made exactly an hour ago no longer count")
	all, inA = b.Used("a")
	assert.Equal(t, 2, all, "b's call of minute 30 and a's new one")
	assert.Equal(t, 1, inA)

	clk.Step(time.Hour)
	all, _ = b.Used("a")
	assert.Equal(t, 0, all)
	assert.Empty(t, b.ns, "namespaces without calls in the hour are forgotten, also those not asked about")
	assert.Empty(t, b.all)
}

func TestBudgetRefund(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	b := NewBudget(clk, 2, 1)
	token, e := b.Take("a")
	assert.Equal(t, Within, e)
	_, e = b.Take("a")
	assert.Equal(t, NamespaceExceeded, e)

	b.Refund("a", token)
	all, inA := b.Used("a")
	assert.Equal(t, 0, all)
	assert.Equal(t, 0, inA)
	_, e = b.Take("a")
	assert.Equal(t, Within, e, "a refunded call is available again")
}
