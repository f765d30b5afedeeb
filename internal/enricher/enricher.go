package enricher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"dot-ai.io/controller/internal/eventtime"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/text"
)

// EventSource gives the recent events of an object from a cache, so
// enrichment needs no extra API call per event. The watcher's event index
// implements it; declaring it here keeps the enricher independent of the
// watcher.
type EventSource interface {
	// EventsFor returns the cached events whose involvedObject is the given
	// object (apiVersion ignored), in any order.
	EventsFor(namespace, kind, name string) []*corev1.Event
}

// Options configure an Enricher.
type Options struct {
	// Kube reads objects and logs (get/list on pods, pods/log and the
	// workload kinds). Required.
	Kube kubernetes.Interface
	// Events gives related events (the watcher's event index). Optional.
	Events EventSource
	// Logs replaces the apiserver log source (tests).
	Logs LogSource
	// Metrics replaces the metrics.k8s.io source (tests).
	Metrics MetricsSource
	// Clock gives "now" for the lookback window.
	Clock clock.PassiveClock
	// PartTimeout bounds each part (objects, logs, metrics). Default 3s.
	PartTimeout time.Duration
	// MaxPods bounds the Pods of a workload whose logs and statuses are
	// gathered. Default 3.
	MaxPods int
	// MaxRelatedEvents bounds the related events. Default 20.
	MaxRelatedEvents int
	// MaxLogStreams bounds the log streams read per event. Default 8.
	MaxLogStreams int
}

// Enricher gathers context for events. Safe for concurrent use.
type Enricher struct {
	opts Options
	// memory keeps terminated containers' lines for later enrichments
	// (logmemory.go).
	memory *logMemory
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
	if o.MaxPods <= 0 {
		o.MaxPods = 3
	}
	if o.MaxRelatedEvents <= 0 {
		o.MaxRelatedEvents = 20
	}
	if o.MaxLogStreams <= 0 {
		o.MaxLogStreams = 8
	}
	return &Enricher{opts: o, memory: newLogMemory()}
}

// objRef names an object.
type objRef struct{ Kind, Namespace, Name string }

func (r objRef) String() string { return r.Kind + "/" + r.Name }

// Enrich gathers the context of ev that g, the policy's effective
// contextGathering, asks for. It never fails: what cannot be gathered becomes
// a note.
func (e *Enricher) Enrich(ctx context.Context, ev *corev1.Event, g policy.ContextGathering) *Context {
	out := &Context{}
	if ev == nil {
		out.Notes = append(out.Notes, "no event")
		return out
	}
	out.Event = eventInfo(ev)
	involved := objRef{Kind: ev.InvolvedObject.Kind, Namespace: cmp.Or(ev.InvolvedObject.Namespace, ev.Namespace), Name: ev.InvolvedObject.Name}

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

	if g.IncludeRelatedEvents {
		if e.opts.Events == nil {
			out.Notes = append(out.Notes, "related events: no event index")
		} else {
			out.RelatedEvents = e.related(ev, append(chain, children...), g.Lookback)
		}
	}
	if g.IncludeLogs && len(pods) > 0 && e.opts.Logs != nil {
		lctx, cancel := context.WithTimeout(ctx, 2*e.opts.PartTimeout)
		logs, notes := e.logs(lctx, pods, g)
		cancel()
		out.Logs = logs
		out.Notes = append(out.Notes, notes...)
	}
	if g.IncludeMetrics && len(pods) > 0 {
		if e.opts.Metrics == nil {
			out.Notes = append(out.Notes, "metrics: not available")
		} else {
			mctx, cancel := context.WithTimeout(ctx, e.opts.PartTimeout)
			for _, p := range pods {
				m, err := e.opts.Metrics.PodMetrics(mctx, p.Namespace, p.Name)
				if err != nil {
					out.Notes = append(out.Notes, "metrics: "+short(err))
					break
				}
				out.Metrics = append(out.Metrics, *m)
			}
			cancel()
		}
	}
	return out
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

// related returns events of objs within lookback, newest first, without ev.
func (e *Enricher) related(ev *corev1.Event, objs []objRef, lookback time.Duration) []EventInfo {
	since := e.opts.Clock.Now().Add(-lookback)
	seen := map[types.UID]bool{ev.UID: true}
	seenName := map[string]bool{ev.Namespace + "/" + ev.Name: true}
	var found []*corev1.Event
	for _, o := range objs {
		for _, re := range e.opts.Events.EventsFor(o.Namespace, o.Kind, o.Name) {
			if re == nil || (re.UID != "" && seen[re.UID]) || seenName[re.Namespace+"/"+re.Name] {
				continue
			}
			seen[re.UID] = true
			seenName[re.Namespace+"/"+re.Name] = true
			if eventtime.Of(re).Before(since) {
				continue
			}
			found = append(found, re)
		}
	}
	slices.SortStableFunc(found, func(a, b *corev1.Event) int { return eventtime.Of(b).Compare(eventtime.Of(a)) })
	if len(found) > e.opts.MaxRelatedEvents {
		found = found[:e.opts.MaxRelatedEvents]
	}
	out := make([]EventInfo, 0, len(found))
	for _, re := range found {
		out = append(out, eventInfo(re))
	}
	return out
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

// logs reads the Pods' container logs within the total budget.
func (e *Enricher) logs(ctx context.Context, pods []*corev1.Pod, g policy.ContextGathering) ([]ContainerLog, []string) {
	type stream struct {
		pod       *corev1.Pod
		container string
		previous  bool
		// terminated is the ID of the container the stream reads when
		// that container has terminated (its log is final), else "".
		terminated string
	}
	var streams []stream
	for _, p := range pods {
		restarts := map[string]int32{}
		statuses := map[string]*corev1.ContainerStatus{}
		for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			restarts[cs.Name] = cs.RestartCount
			statuses[cs.Name] = &cs
		}
		var names []string
		for _, c := range p.Spec.InitContainers {
			if restarts[c.Name] > 0 || failedInit(p, c.Name) {
				names = append(names, c.Name)
			}
		}
		for _, c := range p.Spec.Containers {
			names = append(names, c.Name)
		}
		for _, n := range names {
			streams = append(streams, stream{p, n, false, terminatedID(statuses[n], false)})
			if g.IncludePreviousLogs && restarts[n] > 0 {
				streams = append(streams, stream{p, n, true, terminatedID(statuses[n], true)})
			}
		}
	}
	var notes []string
	if len(streams) > e.opts.MaxLogStreams {
		notes = append(notes, fmt.Sprintf("logs: %d of %d container log streams read", e.opts.MaxLogStreams, len(streams)))
		streams = streams[:e.opts.MaxLogStreams]
	}
	if len(streams) == 0 {
		return nil, notes
	}
	per := max(int(g.MaxLogBytes)/len(streams), 256)
	var out []ContainerLog
	for _, s := range streams {
		if ctx.Err() != nil {
			notes = append(notes, "logs: time budget exhausted")
			break
		}
		readLimit, tail := int64(per)*4, int64(g.LogLines)
		opts := &corev1.PodLogOptions{Container: s.container, TailLines: &tail, LimitBytes: &readLimit, Previous: s.previous}
		rc, err := e.opts.Logs.Stream(ctx, s.pod.Namespace, s.pod.Name, opts)
		which := s.pod.Name + "/" + s.container
		if s.previous {
			which += " (previous)"
		}
		if err != nil {
			if !e.remembered(s.pod, s.container, s.previous, s.terminated, which, &out, &notes) {
				notes = append(notes, "logs of "+which+": "+short(err))
			}
			continue
		}
		lines, truncated, err := readTail(rc, per, readLimit)
		_ = rc.Close()
		if err != nil {
			notes = append(notes, "logs of "+which+": "+short(err))
		}
		if len(lines) == 0 {
			if err == nil {
				notes = append(notes, "logs of "+which+": empty")
			}
			continue
		}
		if kubeletLogError(lines) {
			if !e.remembered(s.pod, s.container, s.previous, s.terminated, which, &out, &notes) {
				notes = append(notes, "logs of "+which+": unavailable (the kubelet no longer has them)")
			}
			continue
		}
		if err == nil {
			e.memory.put(s.terminated, lines, truncated, e.opts.Clock.Now())
		}
		out = append(out, ContainerLog{Pod: s.pod.Name, Container: s.container, Previous: s.previous, Lines: lines, Truncated: truncated})
	}
	return out, notes
}

// remembered adds the lines an earlier enrichment read from the terminated
// container id, which the kubelet no longer serves, with a note saying when
// they were read. It reports whether it had them.
func (e *Enricher) remembered(p *corev1.Pod, container string, previous bool, id, which string, out *[]ContainerLog, notes *[]string) bool {
	r, ok := e.memory.get(id, e.opts.Clock.Now())
	if !ok {
		return false
	}
	*out = append(*out, ContainerLog{Pod: p.Name, Container: container, Previous: previous, Lines: slices.Clone(r.lines), Truncated: r.truncated})
	*notes = append(*notes, "logs of "+which+": read at "+r.at.UTC().Format(time.RFC3339)+" by an earlier enrichment (the kubelet no longer has them)")
	return true
}

func failedInit(p *corev1.Pod, name string) bool {
	for _, cs := range p.Status.InitContainerStatuses {
		if cs.Name == name {
			return cs.State.Waiting != nil || (cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0)
		}
	}
	return false
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
