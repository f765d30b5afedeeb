package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// staticTestBinary builds the workload program statically, a stand-in for
// bin/dot-ai-controller.
func staticTestBinary(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "workload")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./workload")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "%s", b)
	return out
}

// ociTar reads an OCI layout tarball: the index, and each blob by digest.
func ociTar(t *testing.T, path string) (map[string]any, map[string][]byte) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = data
	}
	require.Contains(t, files, "oci-layout")
	var index map[string]any
	require.NoError(t, json.Unmarshal(files["index.json"], &index))
	return index, files
}

func blob(t *testing.T, files map[string][]byte, digest string) []byte {
	t.Helper()
	data, ok := files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
	require.Truef(t, ok, "blob %s", digest)
	return data
}

func TestControllerImageLayout(t *testing.T) {
	bin := staticTestBinary(t)
	data, err := staticBinary(bin)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "controller.tar")
	const ref = "ghcr.io/dot-ai/dot-ai-controller:local"
	require.NoError(t, writeImage(controllerImageSpec(ref, data), out))

	index, files := ociTar(t, out)
	manifests := index["manifests"].([]any)
	require.Len(t, manifests, 1)
	desc := manifests[0].(map[string]any)
	assert.Equal(t, "application/vnd.oci.image.manifest.v1+json", desc["mediaType"])
	ann := desc["annotations"].(map[string]any)
	assert.Equal(t, ref, ann["io.containerd.image.name"], "the name ctr images import gives it")
	assert.Equal(t, "local", ann["org.opencontainers.image.ref.name"])

	var manifest struct {
		Config struct{ Digest, MediaType string }
		Layers []struct{ Digest, MediaType string }
	}
	require.NoError(t, json.Unmarshal(blob(t, files, desc["digest"].(string)), &manifest))
	assert.Equal(t, "application/vnd.oci.image.config.v1+json", manifest.Config.MediaType)
	require.Len(t, manifest.Layers, 1)
	assert.Equal(t, "application/vnd.oci.image.layer.v1.tar+gzip", manifest.Layers[0].MediaType)

	var config struct {
		OS, Architecture string
		Config           struct {
			User       string
			Entrypoint []string
		}
	}
	require.NoError(t, json.Unmarshal(blob(t, files, manifest.Config.Digest), &config))
	assert.Equal(t, "linux", config.OS)
	assert.Equal(t, "amd64", config.Architecture)
	assert.Equal(t, "65532:65532", config.Config.User, "non-root, as the Dockerfile's USER")
	assert.Equal(t, []string{"/dot-ai-controller"}, config.Config.Entrypoint)

	layer := layerFiles(t, blob(t, files, manifest.Layers[0].Digest))
	assert.Equal(t, int64(0o755), layer["dot-ai-controller"].Mode)
	assert.Equal(t, int64(len(data)), layer["dot-ai-controller"].Size, "the binary as built")
	assert.Equal(t, int64(0o1777), layer["tmp/"].Mode&0o7777)
	assert.Contains(t, layer, "etc/passwd")
	assert.Equal(t, nonRoot, layer["home/nonroot/"].Uid, "the user's home is its own")
	assert.Equal(t, 0, layer["etc/passwd"].Uid)
	for name := range layer {
		assert.NotContains(t, []string{"bin/sh", "bin/busybox", "bin/bash"}, name, "no shell")
	}
}

// layerFiles lists a gzipped tar layer's entries.
func layerFiles(t *testing.T, gz []byte) map[string]*tar.Header {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	require.NoError(t, err)
	got := map[string]*tar.Header{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		require.NoError(t, err)
		got[h.Name] = h
	}
}

func TestImageIsReproducible(t *testing.T) {
	spec := imageSpec{ref: "dot-ai.local/x:1", files: []imageFile{{path: "/a/b", mode: 0o644, data: []byte("x")}}}
	a, err := buildImage(spec)
	require.NoError(t, err)
	b, err := buildImage(spec)
	require.NoError(t, err)
	da, err := a.Digest()
	require.NoError(t, err)
	db, err := b.Digest()
	require.NoError(t, err)
	assert.Equal(t, da, db, "same inputs, same digest (no timestamps)")
}

func TestStaticBinary(t *testing.T) {
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		wantErr string
	}{
		{name: "static Go binary", path: staticTestBinary},
		{name: "dynamically linked", path: func(*testing.T) string { return "/bin/ls" }, wantErr: "dynamically linked"},
		{name: "not an executable", path: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "script")
			require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755))
			return p
		}, wantErr: "not an ELF executable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := staticBinary(tc.path(t))
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestELFLibraries(t *testing.T) {
	tests := []struct {
		name      string
		path      func(t *testing.T) string
		wantPaths []string
	}{
		{name: "static Go binary needs none", path: staticTestBinary},
		{name: "dynamic binary brings its loader and libc", path: func(*testing.T) string { return "/bin/ls" },
			wantPaths: []string{"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.path(t))
			require.NoError(t, err)
			libs, err := elfLibraries(data)
			require.NoError(t, err)
			var paths []string
			for _, l := range libs {
				assert.NotEmpty(t, l.data, l.path)
				paths = append(paths, l.path)
			}
			for _, want := range tc.wantPaths {
				assert.Contains(t, paths, want)
			}
			if tc.wantPaths == nil {
				assert.Empty(t, paths)
			}
		})
	}
}
