package watcher

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/internal/eventtime"
	"dot-ai.io/controller/internal/policy"
)

// Preview runs a policy's selection over a set of Events the way the
// watcher would, with the same code: the compiled selectors and exclusions,
// then the recurrence threshold, the cooldown and the token bucket, each
// started empty and fed in event-time order. kubectl dot-ai preview uses it
// before a policy is applied, so it neither delivers nor counts anything.

// Fate is what the watcher would do with an event.
type Fate string

// The fates Preview reports.
const (
	FateNotSelected    Fate = "not selected"
	FateExcluded       Fate = "excluded"
	FateIgnored        Fate = "ignored"
	FateBelowThreshold Fate = "below threshold"
	FateCooledDown     Fate = "cooled down"
	FateRateLimited    Fate = "rate limited"
	FateSent           Fate = "would be sent"
)

// PreviewResult is one event's fate.
type PreviewResult struct {
	Event *corev1.Event
	// Selector is the index of the matching eventSelector, or -1.
	Selector int
	Fate     Fate
	// Detail says why, in the words of the watcher's outcome messages.
	Detail string
}

// PreviewLookups are what selection reads besides the Event: the Pods'
// container statuses (decision 7 (docs/design/decisions.md#d7)), namespace labels (namespaceSelector),
// owners (cooldown and recurrence keys) and objects' metadata (CEL's object,
// the opt-out annotation; reduced here as the watcher's caches reduce it).
// Nil lookups find nothing.
type PreviewLookups struct {
	Pods       policy.PodStatusLookup
	Namespaces policy.NamespaceLabels
	Owners     OwnerLookup
	Objects    MetaLookup
}

// Preview returns each event's fate under cp, in event-time order.
func Preview(ctx context.Context, cp *policy.Compiled, events []*corev1.Event, l PreviewLookups) []PreviewResult {
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b *corev1.Event) int { return eventtime.Of(a).Compare(eventtime.Of(b)) })
	recur, cool := recurrence{}, cooldowns{}
	var bucket tokenBucket
	out := make([]PreviewResult, 0, len(sorted))
	var objects MetaLookup
	if l.Objects != nil {
		objects = func(apiVersion, kind, namespace, name string, uid types.UID) *metav1.ObjectMeta {
			m := l.Objects(apiVersion, kind, namespace, name, uid)
			if m == nil {
				return nil
			}
			r := reduceMeta(m)
			return &r
		}
	}
	for _, ev := range sorted {
		r := PreviewResult{Event: ev, Selector: -1}
		idx, err := cp.Match(ctx, ev, l.Pods, l.Namespaces, func() *metav1.ObjectMeta { return involvedMetaFrom(ev, objects) })
		switch {
		case idx == policy.Excluded:
			r.Fate = FateExcluded
		case idx >= 0 && ignoredBy(ev, objects):
			r.Fate = FateIgnored
		case idx < 0:
			r.Fate = FateNotSelected
			if err != nil {
				r.Detail = "CEL: " + err.Error()
			}
		default:
			r.Selector = idx
			r.Fate, r.Detail = previewLimits(cp.Effective(idx), ev, l.Owners, recur, cool, &bucket)
		}
		out = append(out, r)
	}
	return out
}

// previewLimits applies what process applies after a match, in its order.
func previewLimits(e policy.Effective, ev *corev1.Event, owners OwnerLookup, recur recurrence, cool cooldowns, bucket *tokenBucket) (Fate, string) {
	t := eventtime.Of(ev)
	object := cooldownObject(ev.InvolvedObject, ev.Namespace, owners)
	if e.MinOccurrences > 1 {
		if reached, n := recur.observe(recurrenceKey(object, ev.Reason, ev.Message), t, e.MinOccurrences, e.OccurrenceWindow); !reached {
			return FateBelowThreshold, fmt.Sprintf("%d of %d occurrences of %s within %s", n, e.MinOccurrences, object, e.OccurrenceWindow)
		}
	}
	key := cooldownKey(object, ev.Reason)
	if cool.active(key, t) {
		return FateCooledDown, "cooldown of " + key
	}
	if !bucket.take(t, e.EventsPerMinute) {
		return FateRateLimited, fmt.Sprintf("over %d events per minute", e.EventsPerMinute)
	}
	cool.start(key, t, e.Cooldown)
	if e.DryRun {
		return FateSent, "dry run: built, not sent"
	}
	return FateSent, "to " + previewEndpoint(e)
}

func previewEndpoint(e policy.Effective) string {
	if e.Endpoint == "" {
		return "the installation's endpoint"
	}
	return e.Endpoint
}
