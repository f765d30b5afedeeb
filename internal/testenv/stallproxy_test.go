package testenv

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestIsEventWatch: only watches of core/v1 Events are stalled.
func TestIsEventWatch(t *testing.T) {
	cases := []struct {
		target string
		want   bool
	}{
		{"/api/v1/events?watch=true&allowWatchBookmarks=true", true},
		{"/api/v1/namespaces/team-a/events?watch=1", true},
		{"/api/v1/events?watch=true&sendInitialEvents=true", true},
		{"/api/v1/events", false},
		{"/api/v1/events?watch=false", false},
		{"/api/v1/namespaces/team-a/events/some-event?watch=true", false},
		{"/api/v1/pods?watch=true", false},
		{"/api/v1/namespaces/events/pods?watch=true", false},
		{"/apis/coordination.k8s.io/v1/namespaces/dot-ai/leases/x", false},
		{"/apis/events.k8s.io/v1/events?watch=true", false},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			assert.Equal(t, c.want, IsEventWatch(httptest.NewRequest(http.MethodGet, c.target, http.NoBody)))
		})
	}
}
