// Package helm tests the dot-ai-controller chart: it renders the chart in
// process with helm's own library (as `helm template` does, with a pinned
// Kubernetes version), compares golden files, asserts what matters
// semantically, checks the binary accepts the rendered flags, and lets a real
// kube-apiserver validate the rendered objects.
package helm

import (
	"bytes"
	"cmp"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	releaseName       = "dot-ai"
	releaseNamespace  = "dot-ai"
	kubeVersion       = "v1.37.2"
	serviceMonitorAPI = "monitoring.coreos.com/v1/ServiceMonitor"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func chartDir() string { return filepath.Join(repoRoot(), "charts", "dot-ai-controller") }

// renderOpts select the cluster the chart is rendered for.
type renderOpts struct {
	// extraAPIs are served besides the built-in ones (e.g. ServiceMonitor).
	extraAPIs []string
	// releaseName and namespace replace releaseName and releaseNamespace
	// (several installations in one control plane).
	releaseName, namespace string
}

// rendered is one chart rendering.
type rendered struct {
	rel *release.Release
	// objects are the manifest's objects followed by the hooks' objects.
	objects []*unstructured.Unstructured
}

// render renders the chart like `helm template --include-crds` would.
func render(t testing.TB, values map[string]any, o renderOpts) (*rendered, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir())
	require.NoError(t, err)
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	require.NoError(t, err)
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.IncludeCRDs = true
	install.ReleaseName = cmp.Or(o.releaseName, releaseName)
	install.Namespace = cmp.Or(o.namespace, releaseNamespace)
	install.KubeVersion = kv
	install.APIVersions = chartutil.VersionSet(o.extraAPIs)
	rel, err := install.Run(chrt, values)
	if err != nil {
		return nil, err
	}
	out := &rendered{rel: rel, objects: splitObjects(t, rel.Manifest)}
	for _, h := range rel.Hooks {
		out.objects = append(out.objects, splitObjects(t, h.Manifest)...)
	}
	return out, nil
}

func mustRender(t testing.TB, values map[string]any, o renderOpts) *rendered {
	t.Helper()
	r, err := render(t, values, o)
	require.NoError(t, err)
	return r
}

// fullText is what a golden file holds: manifest, hooks and NOTES.
func (r *rendered) fullText() string {
	var b strings.Builder
	b.WriteString(r.rel.Manifest)
	hooks := append([]*release.Hook(nil), r.rel.Hooks...)
	sort.SliceStable(hooks, func(i, j int) bool { return hooks[i].Path+hooks[i].Name < hooks[j].Path+hooks[j].Name })
	for _, h := range hooks {
		b.WriteString("\n---\n# Hook: " + h.Path + "\n")
		b.WriteString(h.Manifest)
	}
	b.WriteString("\n---\n# NOTES.txt\n")
	for l := range strings.SplitSeq(r.rel.Info.Notes, "\n") {
		b.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
	return b.String()
}

func splitObjects(t testing.TB, manifest string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for doc := range strings.SplitSeq(manifest, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		m := map[string]any{}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &m), "rendered document:\n%s", doc)
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// find returns the one object of kind (and name, if not empty).
func (r *rendered) find(t testing.TB, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range r.objects {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			found = append(found, o)
		}
	}
	require.Lenf(t, found, 1, "want exactly one %s %q", kind, name)
	return found[0]
}

func (r *rendered) kinds() map[string]int {
	m := map[string]int{}
	for _, o := range r.objects {
		m[o.GetKind()]++
	}
	return m
}

// into converts an unstructured object to a typed one.
func into[T any](t testing.TB, u *unstructured.Unstructured) *T {
	t.Helper()
	raw, err := yaml.Marshal(u.Object)
	require.NoError(t, err)
	var out T
	require.NoError(t, yaml.UnmarshalStrict(raw, &out), "decoding %s %s", u.GetKind(), u.GetName())
	return &out
}

func loadValues(t testing.TB, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	vals := map[string]any{}
	require.NoError(t, yaml.Unmarshal(raw, &vals))
	return vals
}

// goldenCase is one values file and the cluster it is rendered for.
type goldenCase struct {
	name string
	opts renderOpts
}

// goldenCases: testdata/<name>.values.yaml -> testdata/<name>.golden.yaml.
var goldenCases = []goldenCase{
	{name: "default"},
	{name: "full", opts: renderOpts{extraAPIs: []string{serviceMonitorAPI, prometheusRuleAPI}}},
	{name: "existing-secret"},
	{name: "existing-issuer"},
	{name: "minimal"},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			vals := loadValues(t, filepath.Join("testdata", tc.name+".values.yaml"))
			got := mustRender(t, vals, tc.opts).fullText()
			golden := filepath.Join("testdata", tc.name+".golden.yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run `go test ./test/helm/ -run TestGolden -update` to create it")
			require.Equal(t, string(want), got, "golden file %s is stale; rerun with -update and review the diff", golden)
		})
	}
}

// The chart's ci/ values files are what ct lint/install use: they must render.
func TestCIValuesRender(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(chartDir(), "ci", "*-values.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := mustRender(t, loadValues(t, f), renderOpts{})
			require.Equal(t, 1, r.kinds()["Deployment"])
		})
	}
}

func TestGoldenFilesHaveNoStrays(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.golden.yaml"))
	require.NoError(t, err)
	var names []string
	for _, tc := range goldenCases {
		names = append(names, filepath.Join("testdata", tc.name+".golden.yaml"))
	}
	require.ElementsMatch(t, names, files)
}

// dumpOnFailure helps when a semantic test fails.
func dumpOnFailure(t *testing.T, r *rendered) {
	t.Cleanup(func() {
		if t.Failed() {
			var b bytes.Buffer
			b.WriteString(r.rel.Manifest)
			t.Logf("rendered manifest:\n%s", b.String())
		}
	})
}
