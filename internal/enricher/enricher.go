package enricher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"dot-ai.io/controller/internal/eventtime"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/text"
)

// Options configure an Enricher.
type Options struct {
	// Kube reads objects and logs (get/list on pods, pods/log and the
	// workload kinds). Required.
	Kube kubernetes.Interface
	// Events gives related events (APIEvents in the controller). Optional.
	Events EventSource
	// Versions, when set, tells the cached resourceVersion of the objects
	// the enricher reads: one read at that version is not repeated
	// (versioned.go).
	Versions Versions
	// Logs replaces the apiserver log source (tests).
	Logs LogSource
	// Metrics replaces the metrics.k8s.io source (tests).
	Metrics MetricsSource
	// Clock gives "now" for the lookback window.
	Clock clock.PassiveClock
	// PartTimeout bounds each part (objects, related events, metrics; logs
	// get twice as long). Default 3s.
	PartTimeout time.Duration
	// Timeout bounds the whole enrichment (the parts after the objects run
	// in parallel). Default 3 × PartTimeout.
	Timeout time.Duration
	// ShareWindow is how long one read of an object, a workload's Pods or a
	// container's log is shared by the events that need it. Default 2s;
	// negative: never shared.
	ShareWindow time.Duration
	// MaxPods bounds the Pods of a workload whose logs and statuses are
	// gathered. Default 3.
	MaxPods int
	// MaxRelatedEvents bounds the related events. Default
	// DefaultMaxRelatedEvents.
	MaxRelatedEvents int
	// MaxLogStreams bounds the log streams read per event. Default 8.
	MaxLogStreams int
}

// DefaultMaxRelatedEvents is how many related events a context carries by
// default; relatedevents.Index keeps one more per object (the event itself).
const DefaultMaxRelatedEvents = 20

// Enricher gathers context for events. Safe for concurrent use.
type Enricher struct {
	opts Options
	// memory keeps terminated containers' lines for later enrichments
	// (logmemory.go).
	memory *logMemory
	reads  *sharedReads
	// objects are full objects read at a version Versions can vouch for.
	objects *versionedObjects
}

// New returns an Enricher.
func New(o Options) *Enricher {
	if o.Logs == nil && o.Kube != nil {
		o.Logs = KubeLogs{Client: o.Kube}
	}
	if o.Metrics == nil && o.Kube != nil {
		o.Metrics = newKubeMetrics(o.Kube)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.PartTimeout <= 0 {
		o.PartTimeout = 3 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * o.PartTimeout
	}
	if o.ShareWindow == 0 {
		o.ShareWindow = 2 * time.Second
	}
	if o.MaxPods <= 0 {
		o.MaxPods = 3
	}
	if o.MaxRelatedEvents <= 0 {
		o.MaxRelatedEvents = DefaultMaxRelatedEvents
	}
	if o.MaxLogStreams <= 0 {
		o.MaxLogStreams = 8
	}
	return &Enricher{opts: o, memory: newLogMemory(), reads: newSharedReads(o.ShareWindow, o.Clock.Now), objects: newVersionedObjects(versionedBytes)}
}

// objRef names an object.
type objRef struct{ Kind, Namespace, Name string }

func (r objRef) String() string { return r.Kind + "/" + r.Name }

// Enrich gathers the context of ev that g, the policy's effective
// contextGathering, asks for. It never fails: what cannot be gathered becomes
// a note. The objects come first (every other part needs the Pods or the
// owner chain), except the involved object's related events, which start
// at once; then related events, logs and metrics run in parallel, each
// with its own timeout, all within Options.Timeout.
func (e *Enricher) Enrich(ctx context.Context, ev *corev1.Event, g policy.ContextGathering) *Context {
	out := &Context{}
	if ev == nil {
		out.Notes = append(out.Notes, "no event")
		return out
	}
	ctx, cancelAll := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancelAll()
	out.Event = eventInfo(ev)
	involved := objRef{Kind: ev.InvolvedObject.Kind, Namespace: cmp.Or(ev.InvolvedObject.Namespace, ev.Namespace), Name: ev.InvolvedObject.Name}

	var parts sync.WaitGroup
	wantRelated := g.IncludeRelatedEvents && e.opts.Events != nil
	var firstRelated, moreRelated []EventInfo
	var relatedNotes, moreRelatedNotes []string
	if wantRelated {
		parts.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, e.opts.PartTimeout)
			defer cancel()
			firstRelated, relatedNotes = e.related(rctx, ev, []objRef{involved}, g.Lookback)
		})
	}

	// Objects: the involved object, its owner chain and, for workloads,
	// their Pods. Needed by every other part, so fetched even when the
	// spec itself is not included.
	var pods []*corev1.Pod
	var children []objRef
	chain := []objRef{involved}
	if e.opts.Kube == nil {
		out.Notes = append(out.Notes, "no Kubernetes client: objects, logs and metrics not gathered")
	} else if involved.Name != "" {
		octx, cancel := context.WithTimeout(ctx, e.opts.PartTimeout)
		obj, err := e.get(octx, involved)
		switch {
		case err != nil:
			out.Notes = append(out.Notes, fmt.Sprintf("%s %s: %s", involved, "not read", short(err)))
		default:
			if g.IncludeResourceSpec {
				if involved.Kind == "Pod" {
					out.PodSpec = strip(obj, involved.Kind)
				} else {
					out.Resource = strip(obj, involved.Kind)
				}
			}
			owners, notes := e.ownerChain(octx, obj, involved)
			out.Notes = append(out.Notes, notes...)
			for _, o := range owners {
				chain = append(chain, o.ref)
				if g.IncludeResourceSpec {
					out.Owners = append(out.Owners, strip(o.obj, o.ref.Kind))
				}
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				pods = []*corev1.Pod{pod}
			} else {
				var note string
				pods, note = e.workloadPods(octx, obj)
				if note != "" {
					out.Notes = append(out.Notes, note)
				}
				seen := map[string]bool{}
				for _, p := range pods {
					children = append(children, objRef{"Pod", p.Namespace, p.Name})
					if c := metav1.GetControllerOf(p); c != nil && c.Kind != involved.Kind && !seen[c.Name] {
						seen[c.Name] = true
						children = append(children, objRef{c.Kind, p.Namespace, c.Name})
					}
				}
			}
		}
		cancel()
	}
	for _, r := range chain {
		out.OwnerChain = append(out.OwnerChain, r.String())
	}
	for _, p := range pods {
		out.ContainerStatuses = append(out.ContainerStatuses, containerStates(p)...)
	}

	if more := append(slices.Clone(chain[1:]), children...); wantRelated && len(more) > 0 {
		parts.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, e.opts.PartTimeout)
			defer cancel()
			moreRelated, moreRelatedNotes = e.related(rctx, ev, more, g.Lookback)
		})
	}
	var logNotes, metricNotes []string
	if g.IncludeLogs && len(pods) > 0 && e.opts.Logs != nil {
		parts.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, 2*e.opts.PartTimeout)
			defer cancel()
			out.Logs, logNotes = e.logs(lctx, pods, g)
		})
	}
	if g.IncludeMetrics && len(pods) > 0 {
		if e.opts.Metrics == nil {
			metricNotes = append(metricNotes, "metrics: not available")
		} else {
			parts.Go(func() {
				mctx, cancel := context.WithTimeout(ctx, e.opts.PartTimeout)
				defer cancel()
				out.Metrics, metricNotes = e.metrics(mctx, pods)
			})
		}
	}
	parts.Wait()

	if g.IncludeRelatedEvents {
		if e.opts.Events == nil {
			out.Notes = append(out.Notes, "related events: no event source")
		} else {
			out.RelatedEvents = mergeRelated(firstRelated, moreRelated, e.opts.MaxRelatedEvents)
			out.Notes = append(append(out.Notes, relatedNotes...), moreRelatedNotes...)
		}
	}
	out.Notes = append(append(out.Notes, logNotes...), metricNotes...)
	return out
}

// metrics reads the Pods' usage; the first error ends the part.
func (e *Enricher) metrics(ctx context.Context, pods []*corev1.Pod) ([]PodMetrics, []string) {
	var out []PodMetrics
	for _, p := range pods {
		m, err := e.opts.Metrics.PodMetrics(ctx, p.Namespace, p.Name)
		if err != nil {
			return out, []string{"metrics: " + short(err)}
		}
		out = append(out, *m)
	}
	return out, nil
}

func short(err error) string {
	switch {
	case apierrors.IsNotFound(err):
		return "not found"
	case apierrors.IsForbidden(err):
		return "forbidden"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return ellipsize(err.Error(), maxErrorBytes)
}

func eventInfo(ev *corev1.Event) EventInfo {
	info := EventInfo{
		Type: ev.Type, Reason: ev.Reason, Message: ellipsize(RedactLine(ev.Message), maxEventMessageBytes),
		Namespace: ev.Namespace, Name: ev.Name,
		InvolvedObject: ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name,
		Count:          ev.Count,
		Source:         cmp.Or(ev.Source.Component, ev.ReportingController),
	}
	if ev.Series != nil && ev.Series.Count > info.Count {
		info.Count = ev.Series.Count
	}
	if !ev.FirstTimestamp.IsZero() {
		t := ev.FirstTimestamp.UTC()
		info.FirstTimestamp = &t
	}
	if t := eventtime.Of(ev); !t.IsZero() {
		t = t.UTC()
		info.LastTimestamp = &t
	}
	return info
}

func containerStates(p *corev1.Pod) []ContainerState {
	var out []ContainerState
	add := func(statuses []corev1.ContainerStatus, init bool) {
		for _, cs := range statuses {
			s := ContainerState{Pod: p.Name, Container: cs.Name, Init: init, Ready: cs.Ready, RestartCount: cs.RestartCount}
			switch {
			case cs.State.Waiting != nil:
				s.State, s.Reason, s.Message = "waiting", cs.State.Waiting.Reason, cs.State.Waiting.Message
			case cs.State.Terminated != nil:
				t := cs.State.Terminated
				s.State, s.Reason, s.Message, s.ExitCode = "terminated", t.Reason, t.Message, &t.ExitCode
			case cs.State.Running != nil:
				s.State = "running"
			}
			if t := cs.LastTerminationState.Terminated; t != nil {
				s.LastReason, s.LastExitCode = t.Reason, &t.ExitCode
			}
			if init && s.State == "terminated" && s.ExitCode != nil && *s.ExitCode == 0 {
				continue
			}
			s.Message = ellipsize(RedactLine(s.Message), maxStatusMessageBytes)
			out = append(out, s)
		}
	}
	add(p.Status.InitContainerStatuses, true)
	add(p.Status.ContainerStatuses, false)
	return out
}

// Bounds of the text copied into a context, in bytes: an event's message, a
// container status message and an error shown in a note.
const (
	maxEventMessageBytes  = 4096
	maxStatusMessageBytes = 512
	maxErrorBytes         = 200
)

// ellipsize cuts s to at most n bytes at a rune boundary and marks the cut.
func ellipsize(s string, n int) string {
	if t := text.Truncate(s, n); len(t) < len(s) {
		return t + text.Ellipsis
	}
	return s
}

// strip turns obj into a map without managedFields, the last-applied
// annotation, env values and Secret/ConfigMap data.
func strip(obj runtime.Object, kind string) map[string]any {
	if obj == nil || reflect.ValueOf(obj).IsNil() {
		return nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return map[string]any{"error": "cannot convert: " + err.Error()}
	}
	if _, ok := m["kind"]; !ok || m["kind"] == "" {
		m["kind"] = kind
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	if kind == "Secret" || kind == "ConfigMap" {
		delete(m, "data")
		delete(m, "stringData")
		delete(m, "binaryData")
	}
	stripEnv(m)
	return m
}

// stripEnv replaces every env[].value found anywhere in v.
func stripEnv(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if k == "env" {
				if list, ok := child.([]any); ok {
					for _, item := range list {
						if env, ok := item.(map[string]any); ok {
							if _, has := env["value"]; has {
								env["value"] = Redacted
							}
						}
					}
					continue
				}
			}
			stripEnv(child)
		}
	case []any:
		for _, child := range t {
			stripEnv(child)
		}
	}
}
