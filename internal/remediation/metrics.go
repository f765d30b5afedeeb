package remediation

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	metricRecords = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dotai_remediation_records",
		Help: "Remediation records the leader knows of, by phase.",
	}, []string{"phase"})
	metricApprovalWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "dotai_remediation_approval_wait_seconds",
		Help:    "Time from a proposal's analysis to a person's decision on it.",
		Buckets: []float64{60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600},
	})
	metricExecutions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_remediation_executions_total",
		Help: "Execute calls of approved proposals by outcome: succeeded, partially_resolved, failed, interrupted, or refused (nothing sent: no valid seal, endpoint not allowed, no credentials).",
	}, []string{"outcome"})
	metricWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_remediation_record_writes_total",
		Help: "API writes of Remediation records by kind (create, status, delete) and result (ok, error).",
	}, []string{"kind", "result"})
)

func init() {
	metrics.Registry.MustRegister(metricRecords, metricApprovalWait, metricExecutions, metricWrites)
}

func countWrite(kind string, err error) {
	res := "ok"
	if err != nil {
		res = "error"
	}
	metricWrites.WithLabelValues(kind, res).Inc()
}
