package notify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/internal/policy"
)

// TestStorm: 1,000 outcomes within one minute reach each destination as at
// most maxPerMinute messages, and the notification outcomes add up to the
// items handed over, per destination.
func TestStorm(t *testing.T) {
	const (
		outcomes     = 1000
		maxPerMinute = 10
	)
	slackStub := newStub(t, answer(200, "ok"))
	hookStub := newStub(t, cloudEventsReceiver)
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	cfg := testConfig(slackStub.srv.URL+"/services/", hookStub.srv.URL+"/services/")
	cfg.GroupWindow = time.Second
	cfg.MaxPerMinute = maxPerMinute
	cfg.QueueSize = 100
	n := New(cfg, secretReader(t, map[policy.DestinationKind]string{
		policy.DestinationSlack: slackStub.url(), policy.DestinationWebhook: hookStub.url(),
	}).Build(), Options{Clock: clk})
	run(t, n)
	dests := []policy.Destination{dest(policy.DestinationSlack), dest(policy.DestinationWebhook)}

	// 59 seconds of outcomes, then the last window closes: all within one
	// minute of the first message.
	for i := range outcomes {
		n.Notify(item(fmt.Sprint(i)), dests)
		if i%17 == 16 {
			require.Eventually(t, func() bool { return len(n.in) == 0 }, 5*time.Second, time.Millisecond)
			clk.Step(time.Second)
		}
	}
	require.Eventually(t, func() bool { return len(n.in) == 0 }, 5*time.Second, time.Millisecond)
	clk.Step(time.Second)
	counts := settled(t, n, 2*outcomes)

	for _, tc := range []struct {
		kind policy.DestinationKind
		stub *stub
	}{{policy.DestinationSlack, slackStub}, {policy.DestinationWebhook, hookStub}} {
		c := counts[tc.kind]
		assert.LessOrEqual(t, tc.stub.calls(), maxPerMinute, "%s messages", tc.kind)
		assert.Positive(t, tc.stub.calls(), "%s messages", tc.kind)
		assert.Equal(t, int64(outcomes), c.Sum(), "%s outcomes add up: %v", tc.kind, c)
		assert.Positive(t, c[DroppedRateLimited], "%s: the cap dropped some", tc.kind)
		assert.Positive(t, c[Sent]+c[Grouped], "%s: some were sent", tc.kind)
		t.Logf("%s: %d messages; outcomes %v", tc.kind, tc.stub.calls(), c)
	}
}

// TestQueueFullIsCounted: Notify never blocks; what does not fit the queue
// is counted as dropped.
func TestQueueFullIsCounted(t *testing.T) {
	cfg := testConfig()
	cfg.QueueSize = 3
	n := New(cfg, secretReader(t, nil).Build(), Options{})
	// Not started: nothing drains the queue.
	for i := range 10 {
		n.Notify(item(fmt.Sprint(i)), []policy.Destination{dest(policy.DestinationSlack)})
	}
	counts, pending := n.Counts()
	assert.Equal(t, int64(7), counts[policy.DestinationSlack][DroppedQueueFull])
	assert.Equal(t, int64(3), pending)
}

// TestGrouping: a burst within a window becomes one message listing the
// first maxGroupItems items and counting the rest.
func TestGrouping(t *testing.T) {
	st := newStub(t, answer(200, "ok"))
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	cfg := testConfig(st.srv.URL + "/services/")
	cfg.GroupWindow = 30 * time.Second
	cfg.MaxGroupItems = 4
	n := New(cfg, secretReader(t, map[policy.DestinationKind]string{policy.DestinationSlack: st.url()}).Build(), Options{Clock: clk})
	run(t, n)
	for i := range 25 {
		n.Notify(item(fmt.Sprint(i)), []policy.Destination{dest(policy.DestinationSlack)})
	}
	require.Eventually(t, func() bool { return len(n.in) == 0 && clk.HasWaiters() }, 5*time.Second, time.Millisecond)
	clk.Step(29 * time.Second)
	assert.Zero(t, st.calls(), "nothing before the window ends")
	clk.Step(time.Second)
	counts := settled(t, n, 25)
	assert.Equal(t, 1, st.calls())
	assert.Equal(t, Counts{Sent: 4, Grouped: 21}, counts[policy.DestinationSlack])
	assert.Contains(t, st.body(0), "…and 21 more not listed")
}

// TestStopCountsLateItems: on stop the open groups are sent at once, and
// items handed over after the stop (outcomes recorded while the watcher
// drains) are counted as interrupted, not lost.
func TestStopCountsLateItems(t *testing.T) {
	st := newStub(t, answer(200, "ok"))
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	cfg := testConfig(st.srv.URL + "/services/")
	cfg.GroupWindow = time.Hour
	n := New(cfg, secretReader(t, map[policy.DestinationKind]string{policy.DestinationSlack: st.url()}).Build(), Options{Clock: clk})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = n.Start(ctx); close(done) }()
	d := []policy.Destination{dest(policy.DestinationSlack)}
	for i := range 3 {
		n.Notify(item(fmt.Sprint(i)), d)
	}
	require.Eventually(t, func() bool { return len(n.in) == 0 && clk.HasWaiters() }, 5*time.Second, time.Millisecond)
	cancel()
	<-done
	n.Notify(item("late"), d)
	counts := settled(t, n, 4)
	assert.Equal(t, Counts{Sent: 3, Interrupted: 1}, counts[policy.DestinationSlack])
	assert.Equal(t, 1, st.calls(), "the open group was sent at the stop, before its window ended")
}
