package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// TestPortedUpstreamPolicies: policies written for the upstream dot-ai
// controller, changed only as docs/migrating.md says, are admitted under the
// chart's default settings, with exactly the documented warnings.
func TestPortedUpstreamPolicies(t *testing.T) {
	s := config.Default()
	s.Namespace = "dot-ai"
	s.MCPEndpoint = "http://localhost:3456/api/v1/tools/remediate"
	tests := map[string][]string{
		"sample-policy.yaml":                nil,
		"team-policy.yaml":                  nil,
		"minimal-in-release-namespace.yaml": {fmt.Sprintf(WarnClusterNamespaceOwnOnly, "dot-ai")},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "upstream", "*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, len(tests), "every sample has a row")
	for name, wantWarnings := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "upstream", name))
			require.NoError(t, err)
			var p v1alpha1.RemediationPolicy
			require.NoError(t, yaml.UnmarshalStrict(data, &p), "the sample uses only fields this API has")
			Default(&s, &p)
			errs, warnings := Validate(&s, nil, &p)
			assert.Empty(t, errs)
			assert.ElementsMatch(t, wantWarnings, warnings)
		})
	}
}
