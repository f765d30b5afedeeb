package notify

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"dot-ai.io/controller/internal/policy"
)

// Labels are bounded: destination kind, outcome and reason; never a policy
// name or a URL.
var (
	metricItems = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_notification_items_total",
		Help: "Notification items by destination kind and their one outcome (sent, grouped, dropped_queue_full, dropped_rate_limited, failed, interrupted).",
	}, []string{"kind", "outcome"})
	metricMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_notification_messages_total",
		Help: "Notification messages by destination kind, result (sent, failed) and reason.",
	}, []string{"kind", "result", "reason"})
	metricRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_notification_retries_total",
		Help: "Notification message retries by destination kind and the reason of the attempt before.",
	}, []string{"kind", "reason"})
	metricQueueDepth = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dotai_notification_queue_depth",
		Help: "Notification items waiting to be grouped.",
	})
	metricOpenItems = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dotai_notification_pending_items",
		Help: "Notification items accepted that have no outcome yet (queued, in an open group window, or being sent).",
	})
)

var registerOnce sync.Once

func registerMetrics() {
	registerOnce.Do(func() {
		metrics.Registry.MustRegister(metricItems, metricMessages, metricRetries, metricQueueDepth, metricOpenItems)
	})
}

// RecordOutcome counts k items' outcome in the metrics when it was decided
// outside a Notifier: by the account of a policy that owed too many items,
// or while settling the intents an earlier process left.
func RecordOutcome(kind policy.DestinationKind, o Outcome, k int) {
	registerMetrics()
	metricItems.WithLabelValues(string(kind), o.String()).Add(float64(k))
}
