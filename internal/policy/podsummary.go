package policy

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// PodSummary is what selection reads of a Pod, and what the watcher's Pod
// cache holds instead of a corev1.Pod (1,240 bytes, almost all zero): its
// metadata (reduced by the cache) and, per container, what the watcher's
// Pod problems and decision 7 (docs/design/decisions.md#d7) read. It is a
// runtime.Object and a metav1.Object, so informer stores, their keys and
// namespace index take it.
type PodSummary struct {
	metav1.ObjectMeta
	// Containers are the init containers' statuses, then the containers':
	// every reader treats both alike.
	Containers []ContainerSummary
}

// ContainerSummary is a container's status: its restarts, its waiting
// reason, and its current and last terminations (nil: none).
type ContainerSummary struct {
	WaitingReason              string
	Terminated, LastTerminated *Termination
	RestartCount               int32
}

// Termination is a container's termination.
type Termination struct {
	Reason   string
	ExitCode int32
}

// NewPodSummary summarises the container statuses of a Pod with meta as its
// metadata.
func NewPodSummary(meta metav1.ObjectMeta, status *corev1.PodStatus) *PodSummary {
	p := &PodSummary{ObjectMeta: meta}
	if n := len(status.InitContainerStatuses) + len(status.ContainerStatuses); n > 0 {
		p.Containers = make([]ContainerSummary, 0, n)
	}
	for _, list := range [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses} {
		for i := range list {
			cs := &list[i]
			c := ContainerSummary{RestartCount: cs.RestartCount,
				Terminated: termination(cs.State.Terminated), LastTerminated: termination(cs.LastTerminationState.Terminated)}
			if w := cs.State.Waiting; w != nil {
				c.WaitingReason = w.Reason
			}
			p.Containers = append(p.Containers, c)
		}
	}
	return p
}

func termination(t *corev1.ContainerStateTerminated) *Termination {
	if t == nil {
		return nil
	}
	return &Termination{Reason: t.Reason, ExitCode: t.ExitCode}
}

// GetObjectKind has no kind: the cache never sets one.
func (p *PodSummary) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject is a deep copy.
func (p *PodSummary) DeepCopyObject() runtime.Object {
	if p == nil {
		return nil
	}
	out := &PodSummary{}
	p.DeepCopyInto(&out.ObjectMeta) // ObjectMeta's
	if p.Containers != nil {
		out.Containers = make([]ContainerSummary, len(p.Containers))
		for i, c := range p.Containers {
			if c.Terminated != nil {
				c.Terminated = new(*c.Terminated)
			}
			if c.LastTerminated != nil {
				c.LastTerminated = new(*c.LastTerminated)
			}
			out.Containers[i] = c
		}
	}
	return out
}
