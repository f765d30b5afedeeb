package watcher

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	metricSeen = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_events_seen_total",
		Help: "Event adds and updates the watcher received from its informer.",
	})
	metricSelected = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_events_selected_total",
		Help: "New event occurrences matching a policy (one per policy); each ends in exactly one dotai_event_outcomes_total.",
	})
	metricDeduplicated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_events_deduplicated_total",
		Help: "Matching event updates that were an occurrence already handled or in flight.",
	})
	metricRateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_events_rate_limited_total",
		Help: "Occurrences held back by a policy's eventsPerMinute.",
	})
	metricCooledDown = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_events_cooled_down_total",
		Help: "Occurrences held back by a policy's cooldown.",
	})
	metricDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_events_dropped_total",
		Help: "Occurrences dropped because the delivery queue was full.",
	})
	metricSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_events_skipped_total",
		Help: "Events not delivered: object_gone (a counted outcome), before_policy (older than the policy or its resume), excluded (an excludeSelector matched) or ignored (the object, an owner or the namespace has the opt-out annotation); the last three are not occurrences of the policy.",
	}, []string{"reason"})
	metricQueueDepth = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dotai_delivery_queue_depth",
		Help: "Occurrences waiting for a delivery slot.",
	})
	metricInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dotai_deliveries_in_flight",
		Help: "Deliveries in progress.",
	})
	metricHeld = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dotai_delivery_held_events",
		Help: "Occurrences held while their MCP endpoint is unreachable or its circuit breaker is open, waiting to be offered again.",
	})
	metricDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_deliveries_total",
		Help: "Finished deliveries by outcome (analysis_completed, remediation_succeeded, remediation_failed, delivery_failed).",
	}, []string{"outcome"})
	metricOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_event_outcomes_total",
		Help: "Every selected occurrence's one outcome; the sum equals dotai_events_selected_total minus occurrences still queued or in flight.",
	}, []string{"outcome"})
	metricLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "dotai_event_to_delivery_seconds",
		Help:    "Time from the watcher seeing an occurrence to the start of its delivery call.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	})
	metricCheckpointWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_checkpoint_writes_total",
		Help: "Checkpoint writes (ControllerState objects) by result (ok, error).",
	}, []string{"result"})
	metricIntentWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_intent_writes_total",
		Help: "Write-ahead intents (the Remediation records of delivered occurrences) created, by result (ok, error); an error sends nothing.",
	}, []string{"result"})
	metricWatchActivity = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dotai_event_watch_activity_timestamp_seconds",
		Help: "Unix time the leader's Event watch last opened, delivered an Event, or delivered a bookmark (activity: opened, event, bookmark); a stalled watch stops all three.",
	}, []string{"activity"})
)

// The metrics are registered when the package is loaded, as
// controller-runtime's own are, so the binary's registry describes every
// family (cmd/dot-ai-controller's metric-name test reads it) before the
// watcher runs.
func init() {
	metrics.Registry.MustRegister(&policyGauge, metricSeen, metricSelected, metricDeduplicated, metricRateLimited,
		metricCooledDown, metricDropped, metricSkipped, metricQueueDepth, metricInFlight, metricHeld, metricDeliveries,
		metricOutcomes, metricLatency, metricCheckpointWrites, metricIntentWrites, metricWatchActivity)
}
