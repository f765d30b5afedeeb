package enricher

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Bounds of the memory of terminated containers' logs: the lines of a crash
// stay usable while an event is held through an MCP outage (mcp.outageHold
// defaults to 30 min), in at most logMemoryBytes whatever the policies'
// maxLogBytes.
const (
	logMemoryBytes = 4 << 20
	logMemoryTTL   = 30 * time.Minute
)

// logMemory keeps the lines read from terminated containers, by container
// ID. Such a log never changes, so a later read of it with the same limits
// is answered from here rather than by the kubelet (a crash loop's events
// all ask for the same previous container: one read instead of one per
// event). And a real kubelet keeps only one dead container per container:
// once a crash-looping container crashed again, the attempt before is gone
// ("unable to retrieve container logs"). An event enriched later than its
// crash (held during an MCP outage, or another policy's event about the same
// Pod) then still gets the crashed attempt's lines, read when an earlier
// enrichment saw it terminated.
type logMemory struct {
	mu      sync.Mutex
	size    int
	entries map[string]*rememberedLog
	order   []string // oldest first
}

type rememberedLog struct {
	lines     []string
	truncated bool
	at        time.Time
	size      int
	// limits are the read's tail lines and kept bytes: a read with other
	// limits would have returned other lines.
	limits logLimits
}

// logLimits are what a log read asked for.
type logLimits struct {
	tail int64
	keep int
}

func newLogMemory() *logMemory {
	return &logMemory{entries: map[string]*rememberedLog{}}
}

// put remembers lines of the terminated container id, evicting the oldest
// entries beyond logMemoryBytes; a log larger than the bound alone is not
// kept.
func (m *logMemory) put(id string, lines []string, truncated bool, limits logLimits, now time.Time) {
	size := 0
	for _, l := range lines {
		size += len(l) + 1
	}
	if id == "" || size > logMemoryBytes {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.entries[id]; ok {
		m.size -= old.size
		delete(m.entries, id)
		m.order = deleteID(m.order, id)
	}
	for m.size+size > logMemoryBytes && len(m.order) > 0 {
		m.evictOldest()
	}
	m.entries[id] = &rememberedLog{lines: lines, truncated: truncated, at: now, size: size, limits: limits}
	m.order = append(m.order, id)
	m.size += size
}

// get returns the lines remembered for container id, unless older than
// logMemoryTTL.
func (m *logMemory) get(id string, now time.Time) (*rememberedLog, bool) {
	if id == "" {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.order) > 0 && now.Sub(m.entries[m.order[0]].at) > logMemoryTTL {
		m.evictOldest()
	}
	r, ok := m.entries[id]
	return r, ok
}

func (m *logMemory) evictOldest() {
	id := m.order[0]
	m.order = m.order[1:]
	m.size -= m.entries[id].size
	delete(m.entries, id)
}

func deleteID(ids []string, id string) []string {
	for i, v := range ids {
		if v == id {
			return append(ids[:i], ids[i+1:]...)
		}
	}
	return ids
}

// terminatedID is the ID of the terminated container whose log a stream
// reads, or "" when that container may still write (or is unknown). It
// picks the container as the kubelet does (validateContainerLogStatus): the
// previous stream reads the last terminated instance; the current one reads
// the running container, else the terminated one, else, while the next
// attempt has not started (a crash loop's back-off), the last terminated
// instance too.
func terminatedID(cs *corev1.ContainerStatus, previous bool) string {
	if cs == nil {
		return ""
	}
	last := ""
	if t := cs.LastTerminationState.Terminated; t != nil {
		last = t.ContainerID
	}
	switch {
	case previous:
		return last
	case cs.State.Running != nil:
		return ""
	case cs.State.Terminated != nil && cs.State.Terminated.ContainerID != "":
		return cs.State.Terminated.ContainerID
	}
	return last
}
