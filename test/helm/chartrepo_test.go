package helm

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/repo"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/internal/testenv"
)

// TestChartRepositoryRoundTrip builds the chart repository with
// `make chart-repo`, serves it on 127.0.0.1 and uses it with the helm CLI as
// a user would: repo add, search, template, then a server dry-run, a real
// install into a kube-apiserver and an uninstall that keeps the CRD.
func TestChartRepositoryRoundTrip(t *testing.T) {
	helmBin := filepath.Join(repoRoot(), "bin", "helm")
	_, err := os.Stat(helmBin)
	require.NoError(t, err, "bin/helm is missing: run `make helm` (or `make tools`)")

	chrt, err := loader.Load(chartDir())
	require.NoError(t, err)
	version, appVersion := chrt.Metadata.Version, chrt.Metadata.AppVersion

	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)

	mk := exec.Command("make", "--no-print-directory", "chart-repo", "CHART_REPO_DIR="+dir, "CHART_REPO_URL="+srv.URL)
	mk.Dir = repoRoot()
	out, err := mk.CombinedOutput()
	require.NoError(t, err, "make chart-repo: %s", out)

	// index.yaml lists the packaged chart at the served URL.
	idx, err := repo.LoadIndexFile(filepath.Join(dir, "index.yaml"))
	require.NoError(t, err)
	cv, err := idx.Get("dot-ai-controller", version)
	require.NoError(t, err)
	assert.Equal(t, appVersion, cv.AppVersion)
	require.Len(t, cv.URLs, 1)
	assert.Equal(t, srv.URL+"/dot-ai-controller-"+version+".tgz", cv.URLs[0])
	assert.NotEmpty(t, cv.Digest)

	home := t.TempDir()
	env := append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	helm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(helmBin, args...)
		cmd.Env = env
		cmd.Dir = home
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "helm %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}

	helm("repo", "add", "dot-ai", srv.URL)
	var found []struct {
		Name       string `json:"name"`
		Version    string `json:"version"`
		AppVersion string `json:"app_version"`
	}
	require.NoError(t, json.Unmarshal([]byte(helm("search", "repo", "dot-ai/dot-ai-controller", "-o", "json")), &found))
	require.Len(t, found, 1)
	assert.Equal(t, "dot-ai/dot-ai-controller", found[0].Name)
	assert.Equal(t, version, found[0].Version)
	assert.Equal(t, appVersion, found[0].AppVersion)

	manifest := helm("template", "dot-ai", "dot-ai/dot-ai-controller", "--version", version, "-n", "dot-ai",
		"--set", "mcp.endpoint=http://127.0.0.1:3456")
	assert.Contains(t, manifest, "kind: Deployment")
	assert.Contains(t, manifest, "- --mcp-endpoint=http://127.0.0.1:3456")
	assert.Contains(t, manifest, "kind: CustomResourceDefinition")

	// A cluster: the package's kube-apiserver with cert-manager's CRDs (no
	// controllers run, so this proves the objects install, not that they
	// work). The release goes to its own namespace (other tests create the
	// release namespace's ServiceAccount) and is uninstalled below; the CRD
	// is kept.
	const repoNamespace = "chartrepo"
	kenv := apiServer(t)
	kubeconfig := filepath.Join(home, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, kenv.KubeConfig, 0o600))
	env = append(env, "KUBECONFIG="+kubeconfig)
	ctx := t.Context()
	// testenv installed the CRDs from config/crd; the chart owns them on
	// install.
	var crd *unstructured.Unstructured
	files, err := filepath.Glob(filepath.Join(testenv.CRDDir(), "remediation.dot-ai.io_*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		// config/crd/<group>_<plural>.yaml holds <plural>.<group>.
		group, plural, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".yaml"), "_")
		name := plural + "." + group
		crd = &unstructured.Unstructured{}
		crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
		crd.SetName(name)
		require.NoError(t, kenv.Client.Delete(ctx, crd))
		require.Eventually(t, func() bool {
			return apierrors.IsNotFound(kenv.Client.Get(ctx, client.ObjectKeyFromObject(crd), crd))
		}, 30*time.Second, 100*time.Millisecond)
	}

	install := helm("install", "dot-ai", "dot-ai/dot-ai-controller", "--version", version, "-n", repoNamespace, "--create-namespace",
		"--dry-run=server", "--set", "mcp.endpoint=http://127.0.0.1:3456")
	assert.Contains(t, install, "STATUS: pending-install")
	assert.Contains(t, install, "kubectl get remediationpolicies -A")

	install = helm("install", "dot-ai", "dot-ai/dot-ai-controller", "--version", version, "-n", repoNamespace, "--create-namespace",
		"--set", "mcp.endpoint=http://127.0.0.1:3456")
	assert.Contains(t, install, "STATUS: deployed")
	assert.Contains(t, helm("list", "-n", repoNamespace), "dot-ai-controller-"+version)
	require.NoError(t, kenv.Client.Get(ctx, client.ObjectKeyFromObject(crd), crd))
	assert.Equal(t, "keep", crd.GetAnnotations()["helm.sh/resource-policy"])

	// Uninstall removes the release's objects but keeps the CRD.
	uninstall := helm("uninstall", "dot-ai", "-n", repoNamespace)
	assert.Contains(t, uninstall, "kept due to the resource policy")
	require.NoError(t, kenv.Client.Get(ctx, client.ObjectKeyFromObject(crd), crd), "the CRD survives helm uninstall")
	var deps appsv1.DeploymentList
	require.NoError(t, kenv.Client.List(ctx, &deps, client.InNamespace(repoNamespace)))
	assert.Empty(t, deps.Items)

	// The packaged chart keeps the strict schema: a typo fails from the repo too.
	cmd := exec.Command(helmBin, "template", "dot-ai", "dot-ai/dot-ai-controller", "--set", "mcp.endpont=x")
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "endpont")
}
