package relatedevents

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Lookup results.
const (
	resultHit      = "hit"
	resultFallback = "fallback"
)

var (
	metricLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_related_event_lookups_total",
		Help: "Related-event lookups of one object by result: hit (answered from the index, no request) or fallback (a LIST of the object's Events: the index was incomplete or had evicted the object).",
	}, []string{"result"})
	metricIndexed = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dotai_related_events_indexed",
		Help: "Events held by the related-events index.",
	})
	metricEvictions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_related_event_evictions_total",
		Help: "Objects whose events the related-events index dropped (memory budget, or a delete it could not follow); their next lookup lists them and takes them back in.",
	})
	metricReadmissions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_related_event_readmissions_total",
		Help: "Evicted objects the related-events index took back in from a lookup's fallback LIST.",
	})
)

// Registered on load, as the watcher's (internal/watcher/metrics.go).
func init() {
	metrics.Registry.MustRegister(metricLookups, metricIndexed, metricEvictions, metricReadmissions)
}
