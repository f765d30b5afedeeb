package enricher

import (
	"container/list"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
)

// Versions tells an object's resourceVersion as the controller's caches
// hold it (the watcher's reduced Pod cache and metadata-only workload
// caches, which drop the specs the enricher sends). A full object read
// earlier at that version is what those caches know as current, so it is
// not read again: a storm's events about one Pod cost one GET per change
// of the Pod, not one per event.
type Versions interface {
	ResourceVersion(kind, namespace, name string) (string, bool)
}

// VersionsFunc adapts a function to Versions.
type VersionsFunc func(kind, namespace, name string) (string, bool)

// ResourceVersion implements Versions.
func (f VersionsFunc) ResourceVersion(kind, namespace, name string) (string, bool) {
	return f(kind, namespace, name)
}

// versionedBytes bounds the full objects kept, by twice their protobuf
// size (about their decoded size): some 1,500 Pods of a few KiB, more than
// the objects a storm's events name at once in make bench-enrich (1,000
// Pods); an LRU smaller than the set read in turn would hit nothing.
const versionedBytes = 8 << 20

// versionedObjects keeps full objects the enricher read, with their
// resourceVersion, within versionedBytes, least recently used out first.
// They are shared read-only, as sharedReads' answers.
type versionedObjects struct {
	mu      sync.Mutex
	max     int
	size    int
	entries map[string]*list.Element
	order   *list.List // of *versioned, most recently used first
}

type versioned struct {
	key, rv string
	obj     runtime.Object
	size    int
}

func newVersionedObjects(maxBytes int) *versionedObjects {
	return &versionedObjects{max: maxBytes, entries: map[string]*list.Element{}, order: list.New()}
}

// get returns the object kept under key if it is at version rv.
func (v *versionedObjects) get(key, rv string) (runtime.Object, bool) {
	if rv == "" {
		return nil, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	el, ok := v.entries[key]
	if !ok || el.Value.(*versioned).rv != rv {
		return nil, false
	}
	v.order.MoveToFront(el)
	return el.Value.(*versioned).obj, true
}

// put keeps obj under key at its resourceVersion, replacing what was kept.
func (v *versionedObjects) put(key string, obj runtime.Object) {
	rv, size := objectVersion(obj)
	if rv == "" || size > v.max {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if el, ok := v.entries[key]; ok {
		v.size -= el.Value.(*versioned).size
		v.order.Remove(el)
	}
	v.entries[key] = v.order.PushFront(&versioned{key: key, rv: rv, obj: obj, size: size})
	v.size += size
	for v.size > v.max {
		last := v.order.Back()
		old := last.Value.(*versioned)
		v.order.Remove(last)
		delete(v.entries, old.key)
		v.size -= old.size
	}
}

// objectVersion is obj's resourceVersion and accounted size: twice its
// protobuf size, or 16 KiB for a type without one.
func objectVersion(obj runtime.Object) (string, int) {
	m, ok := obj.(interface{ GetResourceVersion() string })
	if !ok {
		return "", 0
	}
	size := 16 << 10
	if s, ok := obj.(interface{ Size() int }); ok {
		size = 2 * s.Size()
	}
	return m.GetResourceVersion(), size
}
