package enricher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestSharedReads(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(now)
	boom := errors.New("boom")
	tests := []struct {
		name      string
		ttl       time.Duration
		advance   time.Duration // between the two calls
		firstErr  error
		wantReads int64
	}{
		{"a second caller within the window shares the answer", 2 * time.Second, time.Second, nil, 1},
		{"after the window the object is read again", 2 * time.Second, 3 * time.Second, nil, 2},
		{"an error is not kept", 2 * time.Second, 0, boom, 2},
		{"a negative window shares nothing", -1, 0, nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSharedReads(tc.ttl, clk.Now)
			var reads atomic.Int64
			read := func(err error) func(context.Context) (any, error) {
				return func(context.Context) (any, error) { reads.Add(1); return "v", err }
			}
			_, err := s.do(t.Context(), "k", read(tc.firstErr))
			require.ErrorIs(t, err, tc.firstErr)
			clk.SetTime(clk.Now().Add(tc.advance))
			v, err := s.do(t.Context(), "k", read(nil))
			require.NoError(t, err)
			assert.Equal(t, "v", v)
			assert.Equal(t, tc.wantReads, reads.Load())
		})
	}
}

// TestSharedReadsWaitForTheReadInFlight: callers arriving while the first
// read runs wait for it instead of reading again.
func TestSharedReadsWaitForTheReadInFlight(t *testing.T) {
	s := newSharedReads(time.Second, time.Now)
	release := make(chan struct{})
	var reads atomic.Int64
	read := func(context.Context) (any, error) { reads.Add(1); <-release; return 7, nil }
	var wg sync.WaitGroup
	results := make([]any, 5)
	for i := range results {
		wg.Go(func() { results[i], _ = s.do(t.Context(), "k", read) })
	}
	require.Eventually(t, func() bool { return reads.Load() == 1 }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.Equal(t, int64(1), reads.Load())
	for _, r := range results {
		assert.Equal(t, 7, r)
	}
}

// TestSharedReadsForgetExpiredAnswers: answers are not kept beyond about two
// windows, whatever the number of keys.
func TestSharedReadsForgetExpiredAnswers(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(now)
	s := newSharedReads(2*time.Second, clk.Now)
	read := func(context.Context) (any, error) { return "v", nil }
	for _, k := range []string{"a", "b", "c"} {
		_, _ = s.do(t.Context(), k, read)
	}
	clk.SetTime(clk.Now().Add(5 * time.Second))
	_, _ = s.do(t.Context(), "d", read)
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Len(t, s.m, 1, "only the new answer is kept")
}
