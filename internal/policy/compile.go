package policy

import (
	"context"
	"fmt"
	"regexp"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/celevent"
	"dot-ai.io/controller/internal/config"
)

// EventMatcher evaluates a compiled CEL expression against one event and
// its involved object's metadata (nil: unknown).
type EventMatcher interface {
	Matches(ctx context.Context, ev *corev1.Event, obj *metav1.ObjectMeta) (bool, error)
}

// CompileCELFunc compiles a selector's CEL expression once per policy
// generation.
type CompileCELFunc func(expr string) (EventMatcher, error)

// CompileCEL is the CompileCELFunc of the controller and the kubectl plugin:
// the expression language of internal/celevent.
func CompileCEL(expr string) (EventMatcher, error) { return celevent.Compile(expr) }

// PodStatusLookup returns the cached Pod's summary or nil when it is not
// cached.
type PodStatusLookup func(namespace, name string) *PodSummary

// NamespaceLabels returns the labels of a namespace and whether it is known.
type NamespaceLabels func(name string) (map[string]string, bool)

// ObjectLookup returns the cached metadata of the event's involved object
// (nil when not cached). It is called only when a CEL expression runs, so
// callers may resolve it lazily.
type ObjectLookup func() *metav1.ObjectMeta

type compiledSelector struct {
	sel     v1alpha1.EventSelector
	message *regexp.Regexp
	cel     EventMatcher
}

// Compiled is one policy generation, compiled once: regexes, CEL programs,
// the namespace scope and each selector's effective settings.
type Compiled struct {
	namespace  string
	nsSelector labels.Selector // nil: own namespace only
	selectors  []compiledSelector
	excludes   []compiledSelector
	effective  []Effective
}

// Excluded is what Match returns for an event an exclude selector matched.
const Excluded = -2

// Compile compiles p's selectors and resolves their effective settings.
// Errors carry field paths.
func Compile(s *config.Settings, p *v1alpha1.RemediationPolicy, compileCEL CompileCELFunc) (*Compiled, field.ErrorList) {
	var errs field.ErrorList
	cp := &Compiled{namespace: p.Namespace}
	spec := field.NewPath("spec")
	if p.Spec.NamespaceSelector != nil {
		if !s.IsClusterPolicyNamespace(p.Namespace) {
			errs = append(errs, field.Forbidden(spec.Child("namespaceSelector"),
				fmt.Sprintf("only policies in the cluster-policy namespaces %v may set namespaceSelector", s.ClusterPolicyNamespaceList())))
		} else if sel, err := metav1.LabelSelectorAsSelector(p.Spec.NamespaceSelector.LabelSelector()); err != nil {
			errs = append(errs, field.Invalid(spec.Child("namespaceSelector"), p.Spec.NamespaceSelector, err.Error()))
		} else {
			cp.nsSelector = sel
		}
	}
	if len(p.Spec.EventSelectors) == 0 {
		errs = append(errs, field.Required(spec.Child("eventSelectors"), "at least one selector is needed"))
	}
	for i, sel := range p.Spec.EventSelectors {
		cs, serrs := compileSelector(sel, spec.Child("eventSelectors").Index(i), compileCEL)
		errs = append(errs, serrs...)
		cp.selectors = append(cp.selectors, cs)
		cp.effective = append(cp.effective, Resolve(p, i, s))
	}
	for i, sel := range p.Spec.ExcludeSelectors {
		cs, serrs := compileSelector(sel, spec.Child("excludeSelectors").Index(i), compileCEL)
		errs = append(errs, serrs...)
		cp.excludes = append(cp.excludes, cs)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cp, nil
}

func compileSelector(sel v1alpha1.EventSelector, path *field.Path, compileCEL CompileCELFunc) (compiledSelector, field.ErrorList) {
	var errs field.ErrorList
	cs := compiledSelector{sel: sel}
	if sel.Message != "" {
		re, err := regexp.Compile(sel.Message)
		if err != nil {
			errs = append(errs, field.Invalid(path.Child("message"), sel.Message, err.Error()))
		}
		cs.message = re
	}
	if sel.Expression != "" {
		if compileCEL == nil {
			errs = append(errs, field.InternalError(path.Child("expression"), fmt.Errorf("CEL is not available in this build")))
		} else {
			prg, err := compileCEL(sel.Expression)
			if err != nil {
				errs = append(errs, field.Invalid(path.Child("expression"), sel.Expression, err.Error()))
			}
			cs.cel = prg
		}
	}
	return cs, errs
}

// InScope reports whether the policy sees events of namespace ns.
func (cp *Compiled) InScope(ns string, nsLabels NamespaceLabels) bool {
	if cp.nsSelector == nil {
		return ns == cp.namespace
	}
	if nsLabels == nil {
		return false
	}
	l, ok := nsLabels(ns)
	if !ok {
		return false
	}
	return cp.nsSelector.Matches(labels.Set(l))
}

// Match returns the index of the first selector matching ev, -1 when none
// does, or Excluded when an exclude selector matches it (they are matched
// first). A CEL error counts as no match for that selector: an exclude
// selector that cannot be evaluated excludes nothing.
func (cp *Compiled) Match(ctx context.Context, ev *corev1.Event, pods PodStatusLookup, nsLabels NamespaceLabels, object ObjectLookup) (int, error) {
	if !cp.InScope(ev.Namespace, nsLabels) {
		return -1, nil
	}
	var firstErr error
	for i := range cp.excludes {
		ok, err := cp.excludes[i].matches(ctx, ev, pods, object)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if ok {
			return Excluded, firstErr
		}
	}
	for i := range cp.selectors {
		ok, err := cp.selectors[i].matches(ctx, ev, pods, object)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if ok {
			return i, nil
		}
	}
	return -1, firstErr
}

func (cs *compiledSelector) matches(ctx context.Context, ev *corev1.Event, pods PodStatusLookup, object ObjectLookup) (bool, error) {
	s := cs.sel
	if s.Type != "" && string(s.Type) != ev.Type {
		return false, nil
	}
	if s.InvolvedObjectKind != "" && s.InvolvedObjectKind != ev.InvolvedObject.Kind {
		return false, nil
	}
	if s.Namespace != "" && s.Namespace != ev.Namespace {
		return false, nil
	}
	if s.Reason != "" && s.Reason != ev.Reason && !containerStatusMatch(s.Reason, ev, pods) {
		return false, nil
	}
	if cs.message != nil && !cs.message.MatchString(ev.Message) {
		return false, nil
	}
	if cs.cel != nil {
		var obj *metav1.ObjectMeta
		if object != nil {
			obj = object()
		}
		return cs.cel.Matches(ctx, ev, obj)
	}
	return true, nil
}

// containerStatusMatch implements decision 7 (docs/design/decisions.md#d7): a container-status reason in a
// selector matches a Pod's Warning event while the Pod's container status
// (current waiting/terminated state or last termination) shows it.
// CrashLoopBackOff also matches the kubelet's restart BackOff Event of a
// container that has terminated: a real kubelet shows the waiting reason
// CrashLoopBackOff for well under a second per cycle (the rest of the
// back-off the container is terminated, reason Error or OOMKilled), so the
// Pod seldom shows it by the time the Event is matched. An image pull
// BackOff has no terminated container and does not match.
func containerStatusMatch(reason string, ev *corev1.Event, pods PodStatusLookup) bool {
	if !v1alpha1.IsContainerStatusReason(reason) || ev.Type != corev1.EventTypeWarning || ev.InvolvedObject.Kind != "Pod" || pods == nil {
		return false
	}
	pod := pods(ev.Namespace, ev.InvolvedObject.Name)
	if pod == nil || (ev.InvolvedObject.UID != "" && pod.UID != "" && pod.UID != ev.InvolvedObject.UID) {
		return false
	}
	for _, cs := range pod.Containers {
		if cs.WaitingReason == reason {
			return true
		}
		if t := cs.Terminated; t != nil && t.Reason == reason {
			return true
		}
		if t := cs.LastTerminated; t != nil && t.Reason == reason {
			return true
		}
		if reason == crashLoopBackOff && ev.Reason == restartBackOff && (cs.Terminated != nil || cs.LastTerminated != nil) {
			return true
		}
	}
	return false
}

// The container-status reason of a crash loop and the kubelet's Event reason for it.
const (
	crashLoopBackOff = "CrashLoopBackOff"
	restartBackOff   = "BackOff"
)

// Effective returns the settings in force for events selector i matches.
func (cp *Compiled) Effective(i int) Effective { return cp.effective[i] }
