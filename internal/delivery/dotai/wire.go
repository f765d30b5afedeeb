package dotai

import (
	"strings"
	"time"

	"dot-ai.io/controller/internal/enricher"
)

// The request's context in the product spec's shape (its interface
// section): context.event.involvedObject is {kind, name, namespace},
// context.logs a list of lines, context.metrics an object and policy the
// policy's name. Servers other than dot-ai read these names, so the spec's
// fields keep the spec's shapes; the richer data travels beside them
// (logStreams, policyRef). dot-ai itself reads only the issue text.

// wireContext is context as sent.
type wireContext struct {
	Event             wireEvent                 `json:"event"`
	Logs              []string                  `json:"logs,omitempty"`
	LogStreams        []enricher.ContainerLog   `json:"logStreams,omitempty"`
	PodSpec           map[string]any            `json:"podSpec,omitempty"`
	Resource          map[string]any            `json:"resource,omitempty"`
	Owners            []map[string]any          `json:"owners,omitempty"`
	OwnerChain        []string                  `json:"ownerChain,omitempty"`
	ContainerStatuses []enricher.ContainerState `json:"containerStatuses,omitempty"`
	RelatedEvents     []wireEvent               `json:"relatedEvents,omitempty"`
	Metrics           map[string]wirePodMetrics `json:"metrics,omitempty"`
	Notes             []string                  `json:"notes,omitempty"`
}

// wireEvent is enricher.EventInfo with the involved object as an object.
type wireEvent struct {
	Type           string     `json:"type,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	Message        string     `json:"message,omitempty"`
	Namespace      string     `json:"namespace,omitempty"`
	Name           string     `json:"name,omitempty"`
	InvolvedObject wireObject `json:"involvedObject"`
	Count          int32      `json:"count,omitempty"`
	FirstTimestamp *time.Time `json:"firstTimestamp,omitempty"`
	LastTimestamp  *time.Time `json:"lastTimestamp,omitempty"`
	Source         string     `json:"source,omitempty"`
}

type wireObject struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// wirePodMetrics is one Pod's usage, keyed by the Pod's name in metrics.
type wirePodMetrics struct {
	Window     string                    `json:"window,omitempty"`
	Containers []enricher.ContainerUsage `json:"containers"`
}

func toWire(c *enricher.Context) *wireContext {
	w := &wireContext{
		Event: eventToWire(c.Event), LogStreams: c.Logs, PodSpec: c.PodSpec, Resource: c.Resource, Owners: c.Owners,
		OwnerChain: c.OwnerChain, ContainerStatuses: c.ContainerStatuses, Notes: c.Notes,
	}
	for _, re := range c.RelatedEvents {
		w.RelatedEvents = append(w.RelatedEvents, eventToWire(re))
	}
	w.Logs = logLines(c.Logs)
	if len(c.Metrics) > 0 {
		w.Metrics = make(map[string]wirePodMetrics, len(c.Metrics))
		for _, m := range c.Metrics {
			w.Metrics[m.Pod] = wirePodMetrics{Window: m.Window, Containers: m.Containers}
		}
	}
	return w
}

// eventToWire splits the enricher's "Kind/name" into the spec's object; the
// namespace is the event's (involved objects of namespaced events live in
// it; cluster-scoped ones have none).
func eventToWire(e enricher.EventInfo) wireEvent {
	kind, name, _ := strings.Cut(e.InvolvedObject, "/")
	return wireEvent{
		Type: e.Type, Reason: e.Reason, Message: e.Message, Namespace: e.Namespace, Name: e.Name,
		InvolvedObject: wireObject{Kind: kind, Name: name, Namespace: e.Namespace},
		Count:          e.Count, FirstTimestamp: e.FirstTimestamp, LastTimestamp: e.LastTimestamp, Source: e.Source,
	}
}

// logLines flattens the log streams into lines, oldest first per stream. With
// more than one stream each starts with a "--- pod/container ---" line, so a
// reader of the plain list still knows whose lines follow.
func logLines(streams []enricher.ContainerLog) []string {
	var out []string
	for _, s := range streams {
		if len(streams) > 1 {
			header := "--- " + s.Pod + "/" + s.Container
			if s.Previous {
				header += " (previous instance)"
			}
			out = append(out, header+" ---")
		}
		out = append(out, s.Lines...)
	}
	return out
}
