//go:build e2e && reliability

package e2e

import "testing"

func (r *rel) testKills(t *testing.T) {
	t.Skip("not written yet")
}

func (r *rel) testFailover(t *testing.T) {
	t.Skip("not written yet")
}

func (r *rel) testAPIServerRestart(t *testing.T) {
	t.Skip("not written yet")
}
