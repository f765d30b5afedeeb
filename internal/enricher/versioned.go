package enricher

import (
	"container/list"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// versionedBytes bounds the objects kept, by their protobuf size without
// managed fields: over 2,000 typical Pods (1.7 KiB each; 2.8 KiB with managed
// fields), more than the objects a storm's events name at once in make
// bench-enrich (1,000 Pods); an LRU smaller than the set read in turn would
// hit nothing. It keeps more than the 8 MiB bound at twice the protobuf
// size did when the objects were kept decoded, in a fifth of the heap
// (TestVersionedObjectsLiveHeap).
const versionedBytes = 4 << 20

// versionedObjects keeps full objects the enricher read, with their
// resourceVersion, within versionedBytes, least recently used out first.
// It keeps an object's protobuf encoding, not the object: decoded, a Pod
// costs the heap 3.3 times its protobuf (strings, maps, slices and their
// headers), and a storm's Pods were the largest part of the controller's
// live heap. A hit decodes a new copy each time (12–20 µs for a Pod), so
// a caller may even modify what it gets.
type versionedObjects struct {
	mu      sync.Mutex
	max     int
	size    int
	entries map[string]*list.Element
	order   *list.List // of *versioned, most recently used first
}

// versioned is one kept object: its protobuf encoding, with its concrete
// type and TypeMeta (protobuf does not carry apiVersion and kind), or, for
// a type without protobuf, the object itself.
type versioned struct {
	key, rv string
	size    int
	data    []byte
	typ     reflect.Type // the element type of the object's pointer type
	gvk     schema.GroupVersionKind
	obj     runtime.Object // only for a type without protobuf
}

// protoObject is what every k8s.io/api type implements (gogo protobuf).
type protoObject interface {
	runtime.Object
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// otherObjectSize is what an object without protobuf is accounted at: its
// decoded size is not known, and what the enricher reads (typed objects
// from the clientset) never takes that way.
const otherObjectSize = 16 << 10

func newVersionedObjects(maxBytes int) *versionedObjects {
	return &versionedObjects{max: maxBytes, entries: map[string]*list.Element{}, order: list.New()}
}

// get returns a new copy of the object kept under key if it is at version rv.
func (v *versionedObjects) get(key, rv string) (runtime.Object, bool) {
	if rv == "" {
		return nil, false
	}
	v.mu.Lock()
	el, ok := v.entries[key]
	if !ok || el.Value.(*versioned).rv != rv {
		v.mu.Unlock()
		return nil, false
	}
	v.order.MoveToFront(el)
	e := el.Value.(*versioned)
	v.mu.Unlock()
	// An entry is never modified once kept (put replaces it), so it is
	// decoded outside the lock.
	obj, err := e.decode()
	if err != nil {
		v.remove(e)
		return nil, false
	}
	return obj, true
}

// put keeps obj under key at its resourceVersion, replacing what was kept.
// obj itself is not modified, and may be shared afterwards.
func (v *versionedObjects) put(key string, obj runtime.Object) {
	e, ok := encode(key, obj)
	if !ok || e.size > v.max {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if el, ok := v.entries[key]; ok {
		v.size -= el.Value.(*versioned).size
		v.order.Remove(el)
	}
	v.entries[key] = v.order.PushFront(e)
	v.size += e.size
	for v.size > v.max {
		last := v.order.Back()
		old := last.Value.(*versioned)
		v.order.Remove(last)
		delete(v.entries, old.key)
		v.size -= old.size
	}
}

// remove drops e if it is still what is kept under its key.
func (v *versionedObjects) remove(e *versioned) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if el, ok := v.entries[e.key]; ok && el.Value.(*versioned) == e {
		v.order.Remove(el)
		delete(v.entries, e.key)
		v.size -= e.size
	}
}

// encode is obj as kept under key, accounted at its protobuf size; false
// when obj has no resourceVersion or cannot be kept. An object without
// protobuf (an *unstructured.Unstructured, say) is kept itself, as the
// read answer shared read-only already is, and deep-copied on each hit:
// JSON would give its real size but not always its exact copy (an
// Unstructured without kind does not decode).
func encode(key string, obj runtime.Object) (*versioned, bool) {
	m, ok := obj.(interface{ GetResourceVersion() string })
	if !ok || m.GetResourceVersion() == "" {
		return nil, false
	}
	e := &versioned{key: key, rv: m.GetResourceVersion()}
	t := reflect.TypeOf(obj)
	p, ok := obj.(protoObject)
	if !ok || t.Kind() != reflect.Pointer {
		e.obj, e.size = obj, otherObjectSize
		return e, true
	}
	data, err := withoutManagedFields(p).Marshal()
	if err != nil {
		return nil, false
	}
	e.data, e.size, e.typ, e.gvk = data, len(data), t.Elem(), obj.GetObjectKind().GroupVersionKind()
	return e, true
}

// withoutManagedFields is a shallow copy of p without its managed fields,
// which the enricher never sends (strip drops them) and which are often the
// larger part of a Pod's bytes; p itself is shared, so it is not changed.
func withoutManagedFields(p protoObject) protoObject {
	a, err := meta.Accessor(p)
	if err != nil || len(a.GetManagedFields()) == 0 {
		return p
	}
	c := reflect.New(reflect.TypeOf(p).Elem())
	c.Elem().Set(reflect.ValueOf(p).Elem())
	cp := c.Interface().(protoObject)
	if ca, err := meta.Accessor(cp); err == nil {
		ca.SetManagedFields(nil)
	}
	return cp
}

// decode is a new copy of the object e keeps, with the TypeMeta it had.
func (e *versioned) decode() (runtime.Object, error) {
	if e.obj != nil {
		return e.obj.DeepCopyObject(), nil
	}
	obj := reflect.New(e.typ).Interface().(protoObject)
	if err := obj.Unmarshal(e.data); err != nil {
		return nil, err
	}
	if !e.gvk.Empty() {
		obj.GetObjectKind().SetGroupVersionKind(e.gvk)
	}
	return obj, nil
}
