package watcher

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/api/v1alpha1"
)

// TestRecurrenceObserve: below, at and above the threshold, window expiry,
// and the bounds of what is kept.
func TestRecurrenceObserve(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	type step struct {
		at      time.Duration // after t0
		reached bool
		n       int
	}
	tests := map[string]struct {
		minimum int32
		window  time.Duration
		steps   []step
	}{
		"three within the window: the third is delivered": {3, time.Minute, []step{{0, false, 1}, {10 * time.Second, false, 2}, {20 * time.Second, true, 3}}},
		"after reaching, the count starts over":           {2, time.Minute, []step{{0, false, 1}, {time.Second, true, 2}, {2 * time.Second, false, 1}, {3 * time.Second, true, 2}}},
		"occurrences outside the window do not count":     {3, time.Minute, []step{{0, false, 1}, {30 * time.Second, false, 2}, {61 * time.Second, false, 2}, {80 * time.Second, true, 3}}},
		"exactly one window apart is outside":             {2, time.Minute, []step{{0, false, 1}, {time.Minute, false, 1}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := recurrence{}
			for i, s := range tc.steps {
				reached, n := r.observe("k", t0.Add(s.at), tc.minimum, tc.window)
				assert.Equal(t, s.reached, reached, "step %d", i)
				assert.Equal(t, s.n, n, "step %d", i)
			}
		})
	}

	t.Run("at most MaxMinOccurrences-1 times are kept per problem", func(t *testing.T) {
		r := recurrence{}
		for i := range 50 {
			reached, _ := r.observe("k", t0.Add(time.Duration(i)*time.Second), v1alpha1.MaxMinOccurrences+5, time.Hour)
			require.False(t, reached)
		}
		assert.Len(t, r["k"], int(v1alpha1.MaxMinOccurrences)-1)
	})
	t.Run("prune drops old problems and caps the rest", func(t *testing.T) {
		r := recurrence{}
		r.observe("old", t0, 3, time.Hour)
		for i := range maxRecurrenceKeys + 10 {
			r.observe(fmt.Sprint(i), t0.Add(48*time.Hour+time.Duration(i)*time.Second), 3, time.Hour)
		}
		r.prune(t0.Add(49 * time.Hour))
		assert.NotContains(t, r, "old", "older than the longest window")
		assert.Len(t, r, maxRecurrenceKeys)
		assert.NotContains(t, r, "0", "the least recently seen went first")
	})
	t.Run("encode and decode round trip", func(t *testing.T) {
		r := recurrence{}
		r.observe(recurrenceKey("Deployment/ns/web", "BackOff", "m"), t0, 3, time.Minute)
		r.observe(recurrenceKey("Deployment/ns/web", "BackOff", "m"), t0.Add(time.Second), 3, time.Minute)
		r.observe(recurrenceKey("Pod/ns/a", "Unhealthy", "m"), t0, 3, time.Minute)
		assert.Equal(t, r, decodeRecurrence(r.encode()))
		assert.Empty(t, decodeRecurrence("garbage\nk notanumber\n"))
	})
	t.Run("the key separates object, reason and message", func(t *testing.T) {
		k := recurrenceKey("Deployment/ns/web", "BackOff", "m")
		assert.Len(t, k, 32)
		assert.NotEqual(t, k, recurrenceKey("Deployment/ns/api", "BackOff", "m"))
		assert.NotEqual(t, k, recurrenceKey("Deployment/ns/web", "Unhealthy", "m"))
		assert.NotEqual(t, k, recurrenceKey("Deployment/ns/web", "BackOff", "other"))
	})
}
