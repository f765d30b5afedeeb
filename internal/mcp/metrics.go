package mcp

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics of MCP calls, on controller-runtime's registry. Labels are
// bounded: no endpoint or policy labels (policies name arbitrary URLs).
var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dotai_mcp_requests_total",
		Help: "Attempts of remediate calls by result code: an HTTP status (200, 400, 401, 403, 404, 500, 502, 503, 504, other_2xx, other_4xx, other_5xx, other) or connection_error, timeout, canceled.",
	}, []string{"code"})
	requestDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "dotai_mcp_request_duration_seconds",
		Help:    "Duration of one remediate call attempt, until the response body was read.",
		Buckets: []float64{0.05, 0.25, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
	})
	retries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_mcp_retries_total",
		Help: "Remediate call attempts repeated after a retryable failure.",
	})
	breakerRejections = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_mcp_circuit_breaker_rejections_total",
		Help: "Remediate calls not made because the endpoint's circuit breaker was open.",
	})
	breakerOpened = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dotai_mcp_circuit_breaker_opened_total",
		Help: "Times an endpoint's circuit breaker opened.",
	})
	breakerState = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dotai_mcp_circuit_breakers_open",
		Help: "Endpoints whose circuit breaker is currently open or half-open.",
	})
)

func init() {
	metrics.Registry.MustRegister(requests, requestDuration, retries, breakerRejections, breakerOpened, breakerState)
}

func codeLabel(status int) string {
	switch status {
	case 200, 400, 401, 403, 404, 500, 502, 503, 504:
		return strconv.Itoa(status)
	}
	switch status / 100 {
	case 2:
		return "other_2xx"
	case 4:
		return "other_4xx"
	case 5:
		return "other_5xx"
	}
	return "other"
}
