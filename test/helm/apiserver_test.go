package helm

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/internal/testenv"
)

// certManagerVersion is the cert-manager release whose CRDs the chart's
// Issuer and Certificate are validated against (the library in use).
const certManagerVersion = "v1.21.2"

func certManagerCRDDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/cert-manager/cert-manager@"+certManagerVersion).Output()
	require.NoError(t, err, "locating the cert-manager module (its deploy/crds)")
	var mod struct{ Dir string }
	require.NoError(t, json.Unmarshal(out, &mod))
	require.NotEmpty(t, mod.Dir)
	return filepath.Join(mod.Dir, "deploy", "crds")
}

// shared is the package's one control plane (with cert-manager's CRDs),
// started by the first test that needs it and stopped by TestMain.
var shared struct {
	once sync.Once
	env  *testenv.Env
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "Stopping envtest: %v\n", err)
		}
	}
	os.Exit(code)
}

// apiServer returns the shared control plane. Tests using it work in their
// own namespaces and under their own names.
func apiServer(t *testing.T) *testenv.Env {
	t.Helper()
	shared.once.Do(func() {
		shared.env, shared.err = testenv.New(testenv.Options{ExtraCRDDirs: []string{certManagerCRDDir(t)}})
	})
	require.NoError(t, shared.err)
	return shared.env
}

// TestRenderedObjectsPassAPIServerValidation sends every object the chart
// renders with its defaults (and with the full values case) to a real
// kube-apiserver as a server-side dry run, so the apiserver's own validation
// (schemas, RBAC rule checks, webhook configuration rules, cert-manager CRD
// schemas) judges them. ServiceAccounts are created for real first, since the
// Pod admission plugin looks them up.
func TestRenderedObjectsPassAPIServerValidation(t *testing.T) {
	ctx := t.Context()
	c := apiServer(t).Client
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNamespace}}))
	// The full case puts its Grafana dashboard in the sidecar's namespace.
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}))

	cases := []struct {
		name   string
		values map[string]any
	}{
		{name: "default"},
		{name: "full", values: loadValues(t, "testdata/full.values.yaml")},
		{name: "existing-issuer", values: loadValues(t, "testdata/existing-issuer.values.yaml")},
	}
	// Strict field validation: an unknown or misspelt field in a template is
	// an error, not a warning.
	strict := client.FieldValidation(metav1.FieldValidationStrict)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The full case's ServiceMonitor and PrometheusRule need the
			// Prometheus Operator CRDs, which are not installed: render it
			// without that API.
			r := mustRender(t, tc.values, renderOpts{})
			require.NotEmpty(t, r.objects)
			for _, o := range r.objects {
				if o.GetKind() == "ServiceAccount" {
					sa := o.DeepCopy()
					require.NoError(t, client.IgnoreAlreadyExists(c.Create(ctx, sa)), "ServiceAccount %s", o.GetName())
				}
			}
			for _, o := range r.objects {
				obj := o.DeepCopy()
				if obj.GetKind() == "CustomResourceDefinition" {
					// testenv installed the CRD from config/crd: update it.
					existing := &unstructured.Unstructured{}
					existing.SetGroupVersionKind(obj.GroupVersionKind())
					require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(obj), existing))
					obj.SetResourceVersion(existing.GetResourceVersion())
					require.NoError(t, c.Update(ctx, obj, client.DryRunAll, strict), "dry-run update of the chart's CRD")
					continue
				}
				err := c.Create(ctx, obj, client.DryRunAll, strict)
				if obj.GetKind() == "ServiceAccount" {
					err = client.IgnoreAlreadyExists(err)
				}
				require.NoError(t, err, "the apiserver rejects %s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
			}
		})
	}

	t.Run("the check can fail", func(t *testing.T) {
		r := mustRender(t, nil, renderOpts{})
		cert := r.find(t, "Certificate", fullname+"-serving-cert").DeepCopy()
		require.NoError(t, unstructured.SetNestedField(cert.Object, "x", "spec", "secretNam"))
		require.Error(t, c.Create(ctx, cert, client.DryRunAll, strict), "a misspelt Certificate field")
		dep := r.find(t, "Deployment", "").DeepCopy()
		require.NoError(t, unstructured.SetNestedField(dep.Object, int64(1), "spec", "replica"))
		require.Error(t, c.Create(ctx, dep, client.DryRunAll, strict), "an unknown Deployment field")
	})
}
