package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// nonRoot is the distroless "nonroot" user the Dockerfile's final stage runs as.
const nonRoot = 65532

// Images of the real node's test workloads, made from hack/cluster/workload.
const (
	pauseImage    = "dot-ai.local/pause:1"
	workloadImage = "dot-ai.local/workload:1"
	// kubectlImage is bin/kubectl for the chart's `helm test` pod.
	kubectlImage = "dot-ai.local/kubectl:1"
)

// imageFile is one entry of an image's single layer.
type imageFile struct {
	path string // absolute path in the image
	mode int64  // permission bits (and os.ModeSticky for /tmp); a directory when data is nil and dir is set
	dir  bool
	data []byte
	uid  int // owner and group; 0 is root
}

// imageSpec describes a single-layer image without a base: what the
// Dockerfile's `FROM distroless/static` + `COPY` + `USER` produce, minus the
// registry.
type imageSpec struct {
	ref    string
	files  []imageFile
	config v1.Config
}

// buildImage returns the OCI image (OCI media types throughout) of spec.
// Timestamps are zero so the same inputs give the same digest.
func buildImage(spec imageSpec) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	for _, f := range spec.files {
		// Parent directories first, as a real root filesystem has them.
		parts := strings.Split(strings.Trim(filepath.Dir(f.path), "/"), "/")
		for i := range parts {
			d := strings.Join(parts[:i+1], "/")
			if d == "" || d == "." || seen[d] {
				continue
			}
			seen[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
				return nil, err
			}
		}
		entry := strings.TrimPrefix(f.path, "/")
		if f.dir {
			seen[entry] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: entry + "/", Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: time.Unix(0, 0)}); err != nil {
				return nil, err
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: entry, Mode: f.mode, Uid: f.uid, Gid: f.uid, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerData := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerData)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = spec.config
	return mutate.ConfigFile(img, cf)
}

// writeOCITar writes img as an OCI image-layout tarball naming it ref the way
// `ctr images import` reads it (io.containerd.image.name).
func writeOCITar(img v1.Image, ref, out string) error {
	r, err := name.ParseReference(ref, name.WithDefaultRegistry(""))
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".oci-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": r.Identifier(),
	})); err != nil {
		return err
	}
	return tarDir(tmp, out)
}

// tarDir writes the regular files and directories under dir into the tar
// file out (written to a temporary name, then renamed).
func tarDir(dir, out string) error {
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	werr := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err := errors.Join(werr, tw.Close(), f.Close()); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

// staticBinary reads path and fails unless it is a statically linked ELF
// executable: the image has no libc, as distroless/static has none.
func staticBinary(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s is not an ELF executable: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s is dynamically linked (build it with CGO_ENABLED=0)", path)
		}
	}
	return data, nil
}

// rootFiles are the files distroless/static:nonroot provides that a static
// Go program may read: the users, /tmp and the CA bundle (taken from the
// host when it has one).
func rootFiles() []imageFile {
	files := []imageFile{
		{path: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		// The user's own, as in distroless (kubectl reads ~/.kube there).
		{path: "/home/nonroot", mode: 0o700, dir: true, uid: nonRoot},
		{path: "/tmp", mode: 0o1777, dir: true},
	}
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		files = append(files, imageFile{path: "/etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca})
	}
	return files
}

// controllerImageSpec is the Dockerfile's final stage: the static binary at
// /dot-ai-controller on a distroless-like root, user 65532, no shell.
func controllerImageSpec(ref string, binary []byte) imageSpec {
	return imageSpec{
		ref:   ref,
		files: append(rootFiles(), imageFile{path: "/dot-ai-controller", mode: 0o755, data: binary}),
		config: v1.Config{
			Entrypoint: []string{"/dot-ai-controller"},
			User:       fmt.Sprintf("%d:%d", nonRoot, nonRoot),
			WorkingDir: "/",
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			Labels: map[string]string{
				"org.opencontainers.image.title":    "dot-ai-controller",
				"org.opencontainers.image.licenses": "Apache-2.0",
			},
		},
	}
}

// workloadImageSpecs are the real node's sandbox image and the test
// workload image, both from the static multi-call binary hack/cluster/workload.
func workloadImageSpecs(binary []byte) []imageSpec {
	return []imageSpec{
		{
			ref:    pauseImage,
			files:  []imageFile{{path: "/pause", mode: 0o755, data: binary}},
			config: v1.Config{Entrypoint: []string{"/pause", "pause"}, User: "65535:65535"},
		},
		{
			ref:   workloadImage,
			files: append(rootFiles(), imageFile{path: "/workload", mode: 0o755, data: binary}),
			config: v1.Config{
				Entrypoint: []string{"/workload"},
				User:       fmt.Sprintf("%d:%d", nonRoot, nonRoot),
				WorkingDir: "/",
			},
		},
	}
}

// writeImage builds spec into an OCI tarball at out.
func writeImage(spec imageSpec, out string) error {
	img, err := buildImage(spec)
	if err != nil {
		return fmt.Errorf("building %s: %w", spec.ref, err)
	}
	return writeOCITar(img, spec.ref, out)
}

// kubectlImageSpec is bin/kubectl at /usr/local/bin/kubectl (on PATH, as in
// registry.k8s.io/kubectl) on the distroless-like root, user 65532. bin/kubectl
// is built with cgo (the Kubernetes tools share one build cache, and a static
// build would compile its ~1000 packages again), so the image carries the
// dynamic loader and libraries it links: libs from elfLibraries.
func kubectlImageSpec(binary []byte, libs []imageFile) imageSpec {
	files := append(rootFiles(), libs...)
	return imageSpec{
		ref:   kubectlImage,
		files: append(files, imageFile{path: "/usr/local/bin/kubectl", mode: 0o755, data: binary}),
		config: v1.Config{
			Entrypoint: []string{"/usr/local/bin/kubectl"},
			User:       fmt.Sprintf("%d:%d", nonRoot, nonRoot),
			WorkingDir: "/",
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
	}
}

// libDirs are where the host's dynamic libraries live (Debian multiarch).
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// elfLibraries returns the dynamic loader and the libraries the ELF
// executable data names (DT_NEEDED), read from the host under the paths the
// loader looks them up by; none for a static binary.
func elfLibraries(data []byte) ([]imageFile, error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not an ELF executable: %w", err)
	}
	defer func() { _ = f.Close() }()
	var files []imageFile
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		interp, err := io.ReadAll(p.Open())
		if err != nil {
			return nil, err
		}
		path := strings.TrimRight(string(interp), "\x00")
		lib, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("the dynamic loader: %w", err)
		}
		files = append(files, imageFile{path: path, mode: 0o755, data: lib})
	}
	if len(files) == 0 {
		return nil, nil
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return nil, err
	}
	for _, name := range needed {
		found := false
		for _, dir := range libDirs {
			path := filepath.Join(dir, name)
			lib, err := os.ReadFile(path) // follows the soname link
			if err != nil {
				continue
			}
			files = append(files, imageFile{path: path, mode: 0o755, data: lib})
			found = true
			break
		}
		if !found {
			return nil, fmt.Errorf("library %s not found in %s", name, strings.Join(libDirs, ", "))
		}
	}
	return files, nil
}
