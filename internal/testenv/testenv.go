// Package testenv starts a real kube-apiserver and etcd (envtest) from the
// binaries `make envtest-assets` builds into bin/, with the Service range on
// loopback so the apiserver never dials an off-machine address.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"dot-ai.io/controller/api/v1alpha1"
)

// ServiceCIDR is the loopback Service range every test control plane uses.
const ServiceCIDR = "127.0.1.0/24"

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CRDDir holds the generated CRDs.
func CRDDir() string { return filepath.Join(Root(), "config", "crd") }

// Scheme knows the built-in types and this project's API.
func Scheme() *kruntime.Scheme {
	s := kruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	Client client.Client
}

// Options tweak the environment before it starts.
type Options struct {
	// Webhooks, when set, are installed and pointed at a loopback server.
	Webhooks *envtest.WebhookInstallOptions
	// ExtraCRDDirs are installed beside the project's CRDs.
	ExtraCRDDirs []string
}

// Start starts a control plane for t and stops it when t ends. It skips
// nothing: without the binaries the test fails with how to build them.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	env, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("Stopping envtest: %v", err)
		}
	})
	return env
}

// New starts a control plane that the caller stops (a package's tests can
// share one from TestMain).
func New(opts Options) (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(Root(), "bin")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make envtest-assets` (or `make test`) first: %w", b, assets, err)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{CRDDir()}, opts.ExtraCRDDirs...),
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}
	if opts.Webhooks != nil {
		env.WebhookInstallOptions = *opts.Webhooks
		env.WebhookInstallOptions.LocalServingHost = "127.0.0.1"
	}
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", ServiceCIDR)
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest control plane: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Environment: env, Config: cfg, Client: c}, nil
}

// GVR of the project's resource, for dynamic clients.
var GVR = schema.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Resource: "remediationpolicies"}
