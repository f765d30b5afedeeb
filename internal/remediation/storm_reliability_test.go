//go:build reliability

package remediation

import (
	"testing"

	"dot-ai.io/controller/internal/config"
)

// TestStormBounds10k: the bounds hold under a storm of 10,000 delivered
// occurrences with the chart's default retention and cap (make reliability).
func TestStormBounds10k(t *testing.T) {
	stormBounds(t, 10000, 250, config.DefaultRemediations())
}
