package harness

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// volume is one Secret or ConfigMap volume mounted by the container.
type volume struct {
	name, mountPath, localDir string
	secret, configMap         string
	items                     []corev1.KeyToPath
	optional                  bool
}

func (c *Controller) setupVolumes(ctx, runCtx context.Context, pod corev1.PodSpec, ct corev1.Container) error {
	byName := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		byName[v.Name] = v
	}
	for _, m := range ct.VolumeMounts {
		v, ok := byName[m.Name]
		if !ok {
			return fmt.Errorf("volume %q is mounted but not defined", m.Name)
		}
		vol := &volume{name: m.Name, mountPath: m.MountPath, localDir: filepath.Join(c.opts.WorkDir, "volumes", m.Name)}
		switch {
		case v.Secret != nil:
			vol.secret, vol.items = v.Secret.SecretName, v.Secret.Items
			vol.optional = v.Secret.Optional != nil && *v.Secret.Optional
		case v.ConfigMap != nil:
			vol.configMap, vol.items = v.ConfigMap.Name, v.ConfigMap.Items
			vol.optional = v.ConfigMap.Optional != nil && *v.ConfigMap.Optional
		case v.EmptyDir != nil:
			if err := os.MkdirAll(vol.localDir, 0o700); err != nil {
				return err
			}
			c.volumes = append(c.volumes, vol)
			continue
		default:
			return fmt.Errorf("volume %q: only Secret, ConfigMap and emptyDir volumes are supported by the harness", m.Name)
		}
		if err := c.materialise(ctx, vol); err != nil {
			return err
		}
		c.volumes = append(c.volumes, vol)
		c.wg.Go(func() { c.watchVolume(runCtx, vol) })
	}
	return nil
}

// mounts are the volumes' mount paths and local directories, in mount order.
func (c *Controller) mounts() []mount {
	out := make([]mount, 0, len(c.volumes))
	for _, v := range c.volumes {
		out = append(out, mount{path: v.mountPath, localDir: v.localDir})
	}
	return out
}

// fetch returns the volume's files.
func (c *Controller) fetch(ctx context.Context, v *volume) (map[string][]byte, error) {
	data := map[string][]byte{}
	if v.secret != "" {
		s, err := c.kube.CoreV1().Secrets(c.opts.Namespace).Get(ctx, v.secret, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		data = s.Data
	} else {
		cm, err := c.kube.CoreV1().ConfigMaps(c.opts.Namespace).Get(ctx, v.configMap, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		for k, val := range cm.Data {
			data[k] = []byte(val)
		}
		maps.Copy(data, cm.BinaryData)
	}
	return selectItems(v.name, data, v.items)
}

// selectItems applies a volume's items: only the listed keys, each under its
// path; all keys under their own names when there are none.
func selectItems(volume string, data map[string][]byte, items []corev1.KeyToPath) (map[string][]byte, error) {
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		val, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("volume %q: key %q not found", volume, it.Key)
		}
		out[it.Path] = val
	}
	return out, nil
}

func (c *Controller) materialise(ctx context.Context, v *volume) error {
	var files map[string][]byte
	err := waitFor(ctx, 60*time.Second, func() (bool, error) {
		var err error
		files, err = c.fetch(ctx, v)
		if err == nil {
			return true, nil
		}
		if v.optional {
			files = nil
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("volume %q: %w", v.name, err)
	}
	if err := writeAtomic(v.localDir, files); err != nil {
		return err
	}
	c.mu.Lock()
	c.writes[v.name]++
	c.mu.Unlock()
	return nil
}

// Writes reports how often the named volume was (re)written.
func (c *Controller) Writes(volume string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[volume]
}

// VolumeDir is where the named volume is materialised.
func (c *Controller) VolumeDir(volume string) string {
	for _, v := range c.volumes {
		if v.name == volume {
			return v.localDir
		}
	}
	return ""
}

// watchVolume rewrites the volume whenever its object changes.
func (c *Controller) watchVolume(ctx context.Context, v *volume) {
	name, list := v.secret, "secrets"
	if name == "" {
		name, list = v.configMap, "configmaps"
	}
	for ctx.Err() == nil {
		w, err := c.kube.CoreV1().RESTClient().Get().Namespace(c.opts.Namespace).Resource(list).
			VersionedParams(&metav1.ListOptions{Watch: true, FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()}, metav1.ParameterCodec).
			Watch(ctx)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		for range w.ResultChan() {
			if err := c.materialise(ctx, v); err != nil && ctx.Err() == nil {
				// A diagnostic line only: a failing log writer must not stop the watch.
				_, _ = fmt.Fprintf(c.opts.Log, "harness: rewriting volume %s: %v\n", v.name, err)
			}
		}
		w.Stop()
	}
}

// writeAtomic writes files the way the kubelet's AtomicWriter does: into a
// fresh timestamped directory, then swaps the ..data symlink, then points
// the visible names at ..data/<name>.
func writeAtomic(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ts, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	for name, data := range files {
		p := filepath.Join(ts, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	for name := range files {
		top, _, _ := strings.Cut(name, "/")
		link := filepath.Join(dir, top)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", top), link); err != nil {
			return err
		}
	}
	if old != "" && old != filepath.Base(ts) {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}
