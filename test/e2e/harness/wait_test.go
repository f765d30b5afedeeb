package harness

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWaitFor(t *testing.T) {
	transient := errors.New("not yet")
	tests := map[string]struct {
		results []error // one per call; nil means done
		timeout time.Duration
		want    error
		calls   int
	}{
		"done at once":             {results: []error{nil}, timeout: time.Second, calls: 1},
		"done after a retry":       {results: []error{transient, nil}, timeout: 5 * time.Second, calls: 2},
		"timeout gives last error": {results: []error{transient}, timeout: 50 * time.Millisecond, want: transient, calls: 1},
		"stop error ends at once":  {results: []error{&stopError{transient}}, timeout: time.Minute, want: transient, calls: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			calls := 0
			err := waitFor(t.Context(), tc.timeout, func() (bool, error) {
				r := tc.results[min(calls, len(tc.results)-1)]
				calls++
				return r == nil, r
			})
			require.Equal(t, tc.calls, calls)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want.Error())
		})
	}
}

func TestWaitForTimeoutWithoutError(t *testing.T) {
	err := waitFor(t.Context(), 10*time.Millisecond, func() (bool, error) { return false, nil })
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
