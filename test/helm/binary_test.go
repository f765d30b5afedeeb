package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
)

// TestBinaryAcceptsRenderedArgs builds the controller and runs it with the
// exact args each golden case renders (plus --version, which exits after
// flag parsing and settings validation), so a flag the binary does not know
// or a value it rejects fails here rather than in a cluster.
func TestBinaryAcceptsRenderedArgs(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "dot-ai-controller")
	build := exec.Command("go", "build", "-o", bin, "./cmd/dot-ai-controller")
	build.Dir = repoRoot()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building the controller: %s", out)

	caFile := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(caFile, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), 0o600))

	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, loadValues(t, filepath.Join("testdata", tc.name+".values.yaml")), tc.opts)
			d := into[appsv1.Deployment](t, r.find(t, "Deployment", ""))
			args := make([]string, 0, len(d.Spec.Template.Spec.Containers[0].Args)+1)
			for _, a := range d.Spec.Template.Spec.Containers[0].Args {
				a = strings.ReplaceAll(a, "$(POD_NAMESPACE)", releaseNamespace)
				a = strings.ReplaceAll(a, "/etc/dot-ai/mcp-ca/ca.crt", caFile)
				args = append(args, a)
			}
			cmd := exec.Command(bin, append(args, "--version")...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "the binary rejects the chart's args %q:\n%s", args, out)
		})
	}

	t.Run("a bad value is rejected", func(t *testing.T) {
		out, err := exec.Command(bin, "--namespace=x", "--default-mode=sometimes", "--version").CombinedOutput()
		require.Error(t, err, "the check above must be able to fail: %s", out)
	})
}
