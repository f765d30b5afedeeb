package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestSelectItems(t *testing.T) {
	data := map[string][]byte{"tls.crt": []byte("crt"), "tls.key": []byte("key"), "ca.crt": []byte("ca")}
	tests := map[string]struct {
		items      []corev1.KeyToPath
		want       map[string][]byte
		errMessage string
	}{
		"no items: every key": {want: data},
		"items pick and rename": {
			items: []corev1.KeyToPath{{Key: "tls.crt", Path: "certs/server.crt"}},
			want:  map[string][]byte{"certs/server.crt": []byte("crt")},
		},
		"missing key": {
			items:      []corev1.KeyToPath{{Key: "token", Path: "token"}},
			errMessage: `volume "certs": key "token" not found`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := selectItems("certs", data, tc.items)
			checkCase(t, tc.want, got, tc.errMessage, err)
		})
	}
}

// TestWriteAtomic checks the kubelet's layout: visible names are symlinks
// through ..data, a rewrite swaps ..data and removes the old directory.
func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, writeAtomic(dir, map[string][]byte{"tls.crt": []byte("one"), "nested/ca.crt": []byte("ca")}))
	first, err := os.Readlink(filepath.Join(dir, "..data"))
	require.NoError(t, err)
	link, err := os.Readlink(filepath.Join(dir, "tls.crt"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join("..data", "tls.crt"), link)
	assertFile(t, filepath.Join(dir, "tls.crt"), "one")
	assertFile(t, filepath.Join(dir, "nested", "ca.crt"), "ca")

	require.NoError(t, writeAtomic(dir, map[string][]byte{"tls.crt": []byte("two"), "nested/ca.crt": []byte("ca")}))
	second, err := os.Readlink(filepath.Join(dir, "..data"))
	require.NoError(t, err)
	assert.NotEqual(t, first, second, "..data points at a new directory")
	assertFile(t, filepath.Join(dir, "tls.crt"), "two")
	_, err = os.Stat(filepath.Join(dir, first))
	assert.True(t, os.IsNotExist(err), "the previous directory is removed")
	_, err = os.Lstat(filepath.Join(dir, "..data_tmp"))
	assert.True(t, os.IsNotExist(err), "no temporary link left")

	require.NoError(t, writeAtomic(filepath.Join(dir, "empty"), nil), "an absent optional volume is an empty directory")
}

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, want, string(got))
}
