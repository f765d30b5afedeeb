//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// kwokPlacementFile puts pods on the local cluster's kwok node, which is
// tainted NoSchedule so that pods run on the real node unless they choose
// kwok: the chart's values and the simulated workloads here use it.
const kwokPlacementFile = "hack/cluster/kwok-placement-values.yaml"

// clusterBin is the local cluster's harness (make exports CLUSTER_BIN).
func clusterBin(root string) string {
	if b := os.Getenv("CLUSTER_BIN"); b != "" {
		return b
	}
	return filepath.Join(root, "bin", "cluster")
}

// onKwok places spec on the kwok node (simulated crash loops, thousands of
// pods). Against an external cluster (kind) it is unchanged.
func (s *suite) onKwok(t *testing.T, spec corev1.PodSpec) corev1.PodSpec {
	t.Helper()
	if s.external {
		return spec
	}
	data, err := os.ReadFile(filepath.Join(s.root, kwokPlacementFile))
	require.NoError(t, err)
	var placement struct {
		NodeSelector map[string]string   `json:"nodeSelector"`
		Tolerations  []corev1.Toleration `json:"tolerations"`
	}
	require.NoError(t, yaml.UnmarshalStrict(data, &placement))
	require.NotEmpty(t, placement.NodeSelector, kwokPlacementFile)
	spec.NodeSelector = placement.NodeSelector
	spec.Tolerations = append(spec.Tolerations, placement.Tolerations...)
	return spec
}
