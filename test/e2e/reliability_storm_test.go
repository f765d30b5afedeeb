//go:build e2e && reliability

package e2e

import "testing"

func (r *rel) testStorm(t *testing.T) {
	t.Skip("not written yet")
}
