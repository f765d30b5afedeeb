package enricher

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"dot-ai.io/controller/internal/eventtime"
)

// EventSource gives the events of one object. The controller answers from
// a bounded index its watcher feeds (relatedevents.Index), listing
// (APIEvents) what the index cannot vouch for, rather than caching every
// Event of the cluster; declaring it here keeps the enricher independent of where events come
// from (kubectl-dot_ai previews from a list it already has).
type EventSource interface {
	// EventsFor returns the events whose involvedObject is the given object
	// (apiVersion ignored), in any order.
	EventsFor(ctx context.Context, namespace, kind, name string) ([]*corev1.Event, error)
}

// APIEvents lists an object's events with a field selector on the involved
// object, at resourceVersion 0. kube-apiserver keeps no watch cache for
// Events by default, so such a list is read from etcd and decodes every
// Event of the namespace: the controller uses it only as the index's
// fallback (docs/design/related-events.md).
type APIEvents struct{ Client kubernetes.Interface }

// EventsFor implements EventSource.
func (a APIEvents) EventsFor(ctx context.Context, namespace, kind, name string) ([]*corev1.Event, error) {
	sel := fields.Set{"involvedObject.kind": kind, "involvedObject.name": name}.AsSelector().String()
	list, err := a.Client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Event, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// related returns events of objs within lookback, newest first, without ev.
// The objects' lists run in parallel and are shared within the share window.
func (e *Enricher) related(ctx context.Context, ev *corev1.Event, objs []objRef, lookback time.Duration) ([]EventInfo, []string) {
	lists := make([][]*corev1.Event, len(objs))
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	for i, o := range objs {
		wg.Go(func() {
			v, err := e.reads.do(ctx, "events/"+o.Kind+"/"+o.Namespace+"/"+o.Name, func(ctx context.Context) (any, error) {
				return e.opts.Events.EventsFor(ctx, o.Namespace, o.Kind, o.Name)
			})
			lists[i], _ = v.([]*corev1.Event)
			errs[i] = err
		})
	}
	wg.Wait()
	var notes []string
	for i, err := range errs {
		if err != nil {
			notes = append(notes, fmt.Sprintf("related events of %s: %s", objs[i], short(err)))
		}
	}
	since := e.opts.Clock.Now().Add(-lookback)
	seen := map[types.UID]bool{ev.UID: true}
	seenName := map[string]bool{ev.Namespace + "/" + ev.Name: true}
	var found []*corev1.Event
	for _, list := range lists {
		for _, re := range list {
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
	return out, notes
}

// mergeRelated merges the involved object's related events with those of
// its owners and children (each newest first), without repeats, newest
// first, at most max.
func mergeRelated(first, more []EventInfo, maxEvents int) []EventInfo {
	seen := map[string]bool{}
	out := make([]EventInfo, 0, len(first)+len(more))
	for _, list := range [][]EventInfo{first, more} {
		for _, ev := range list {
			if k := ev.Namespace + "/" + ev.Name; !seen[k] {
				seen[k] = true
				out = append(out, ev)
			}
		}
	}
	at := func(ev EventInfo) time.Time {
		if ev.LastTimestamp == nil {
			return time.Time{}
		}
		return *ev.LastTimestamp
	}
	slices.SortStableFunc(out, func(a, b EventInfo) int { return at(b).Compare(at(a)) })
	if len(out) > maxEvents {
		out = out[:maxEvents]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
