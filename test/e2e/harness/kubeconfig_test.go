package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
)

func TestTokenKubeconfig(t *testing.T) {
	raw, err := clientcmd.Write(*tokenKubeconfig("https://127.0.0.1:6443", []byte("CA"), "tok", "dot-ai"))
	require.NoError(t, err)
	cfg, err := clientcmd.RESTConfigFromKubeConfig(raw)
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:6443", cfg.Host)
	assert.Equal(t, "tok", cfg.BearerToken)
	assert.Equal(t, []byte("CA"), cfg.CAData)

	loaded, err := clientcmd.Load(raw)
	require.NoError(t, err)
	ns, _, err := clientcmd.NewDefaultClientConfig(*loaded, nil).Namespace()
	require.NoError(t, err)
	assert.Equal(t, "dot-ai", ns)
}
