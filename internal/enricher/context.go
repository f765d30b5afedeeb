// Package enricher gathers what dot-ai needs to know about one event:
// container logs (streamed and capped, secrets redacted), related events
// (listed by involved object, APIEvents), the involved object and its owner
// chain (with managedFields, env values and secret data stripped), container
// statuses and, when served, metrics. Every part is best-effort with its own
// timeout, the parts after the objects run in parallel within one bound, and
// reads of one object are shared for a short window (sharedReads): a failure
// becomes a note, never a lost event.
package enricher

import "time"

// Context is the structured enrichment sent as the request's context, and
// the source of the compact issue text.
type Context struct {
	// Event is the event being remediated.
	Event EventInfo `json:"event"`
	// Logs are the gathered container logs, newest lines last.
	Logs []ContainerLog `json:"logs,omitempty"`
	// PodSpec is the involved Pod, stripped, when the event is about a Pod.
	PodSpec map[string]any `json:"podSpec,omitempty"`
	// Resource is the involved object, stripped, when it is not a Pod.
	Resource map[string]any `json:"resource,omitempty"`
	// Owners are the involved object's controller owners, nearest first.
	Owners []map[string]any `json:"owners,omitempty"`
	// OwnerChain names the involved object and its owners, e.g.
	// Pod/web-1, ReplicaSet/web-7d4b9c, Deployment/web.
	OwnerChain []string `json:"ownerChain,omitempty"`
	// ContainerStatuses of the involved Pod or of the workload's Pods.
	ContainerStatuses []ContainerState `json:"containerStatuses,omitempty"`
	// RelatedEvents are events of the object, its owners and children within
	// the lookback window, newest first.
	RelatedEvents []EventInfo `json:"relatedEvents,omitempty"`
	// Metrics is the Pod's current usage from metrics.k8s.io.
	Metrics []PodMetrics `json:"metrics,omitempty"`
	// Notes say what could not be gathered and why.
	Notes []string `json:"notes,omitempty"`
}

// EventInfo is a compact Kubernetes Event.
type EventInfo struct {
	Type           string     `json:"type,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	Message        string     `json:"message,omitempty"`
	Namespace      string     `json:"namespace,omitempty"`
	Name           string     `json:"name,omitempty"`
	InvolvedObject string     `json:"involvedObject"`
	Count          int32      `json:"count,omitempty"`
	FirstTimestamp *time.Time `json:"firstTimestamp,omitempty"`
	LastTimestamp  *time.Time `json:"lastTimestamp,omitempty"`
	Source         string     `json:"source,omitempty"`
}

// ContainerLog is the tail of one container's log.
type ContainerLog struct {
	Pod       string   `json:"pod"`
	Container string   `json:"container"`
	Previous  bool     `json:"previous,omitempty"`
	Lines     []string `json:"lines"`
	// Truncated is set when older lines or bytes were left out.
	Truncated bool `json:"truncated,omitempty"`
}

// ContainerState is one container's status.
type ContainerState struct {
	Pod          string `json:"pod"`
	Container    string `json:"container"`
	Init         bool   `json:"init,omitempty"`
	Ready        bool   `json:"ready"`
	RestartCount int32  `json:"restartCount"`
	// State is waiting, running or terminated.
	State    string `json:"state,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	ExitCode *int32 `json:"exitCode,omitempty"`
	// LastReason and LastExitCode describe the previous instance, e.g.
	// OOMKilled / 137.
	LastReason   string `json:"lastReason,omitempty"`
	LastExitCode *int32 `json:"lastExitCode,omitempty"`
}

// PodMetrics is one Pod's usage.
type PodMetrics struct {
	Pod        string           `json:"pod"`
	Window     string           `json:"window,omitempty"`
	Containers []ContainerUsage `json:"containers"`
}

// ContainerUsage is one container's usage.
type ContainerUsage struct {
	Name   string `json:"name"`
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}
