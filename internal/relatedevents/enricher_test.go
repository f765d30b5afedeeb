package relatedevents

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/policy"
)

// listed answers as a LIST by involved object would: every Event of the
// namespace whose involved object has that kind and name.
type listed []*corev1.Event

func (l listed) EventsFor(_ context.Context, namespace, kind, name string) ([]*corev1.Event, error) {
	var out []*corev1.Event
	for _, e := range l {
		if e.Namespace == namespace && e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name {
			out = append(out, e.DeepCopy())
		}
	}
	return out, nil
}

// TestEnrichmentSameAsList: the related events of an enrichment are the same
// whether they come from the index or from a LIST, for Events of every
// timestamp style, beyond the per-object cap and the lookback, with long
// messages and series counts.
func TestEnrichmentSameAsList(t *testing.T) {
	var all listed
	for i := range 40 {
		e := ev("ns", "a", fmt.Sprintf("e%02d", i), i*30)
		e.FirstTimestamp = metav1.NewTime(t0.Add(time.Duration(i*30-100) * time.Second))
		switch i % 4 {
		case 1: // events.k8s.io style: eventTime, series
			e.LastTimestamp = metav1.Time{}
			e.EventTime = metav1.NewMicroTime(t0.Add(time.Duration(i*30) * time.Second))
			e.Series = &corev1.EventSeries{Count: int32(i + 3), LastObservedTime: metav1.NewMicroTime(t0.Add(time.Duration(i*30+5) * time.Second))}
			e.Source, e.ReportingController = corev1.EventSource{}, "example.com/controller"
		case 2:
			e.Message = strings.Repeat("x", 10000) + " token=secret"
			e.Type = "Custom"
		case 3: // only a creation time
			e.LastTimestamp, e.FirstTimestamp = metav1.Time{}, metav1.Time{}
			e.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(i*30) * time.Second))
		}
		all = append(all, e)
	}
	all = append(all, ev("ns", "b", "other", 500))
	x := New(Options{Fallback: listed{}})
	x.MarkComplete() // the Events come through the watch
	for _, e := range all {
		x.Observe(watch.Added, e.DeepCopy())
	}

	clock := clocktesting.NewFakePassiveClock(t0.Add(20 * time.Minute))
	g := policy.ContextGathering{IncludeRelatedEvents: true, Lookback: 15 * time.Minute}
	for _, self := range []*corev1.Event{all[39], all[38], all[10]} {
		want := enricher.New(enricher.Options{Events: all, Clock: clock}).Enrich(context.Background(), self, g)
		got := enricher.New(enricher.Options{Events: x, Clock: clock}).Enrich(context.Background(), self, g)
		require.NotEmpty(t, want.RelatedEvents)
		assert.Equal(t, want.RelatedEvents, got.RelatedEvents, "related events of %s", self.Name)
	}
}
