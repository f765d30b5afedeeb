package watcher

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// policyConditionsDesc counts policies by condition, for alerts on policies
// that are not Ready or not Delivering. Only the leader's watcher exports it
// (it writes the conditions), so a sum over replicas counts each policy once.
// No policy names as labels: their number is unbounded.
var policyConditionsDesc = prometheus.NewDesc("dotai_policies",
	"RemediationPolicies by condition type, status and reason (exported by the leader only).",
	[]string{"condition", "status", "reason"}, nil)

// policyListTimeout bounds a scrape's read of the policy cache.
const policyListTimeout = 2 * time.Second

// policyConditions collects policyConditionsDesc from the running watcher.
type policyConditions struct{ source atomic.Pointer[client.Reader] }

var policyGauge policyConditions

// exportPolicyConditions makes r (the cache the running watcher reads
// policies from) the source of dotai_policies; nil stops the export.
func exportPolicyConditions(r client.Reader) {
	if r == nil {
		policyGauge.source.Store(nil)
		return
	}
	policyGauge.source.Store(&r)
}

func (p *policyConditions) Describe(ch chan<- *prometheus.Desc) { ch <- policyConditionsDesc }

func (p *policyConditions) Collect(ch chan<- prometheus.Metric) {
	r := p.source.Load()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), policyListTimeout)
	defer cancel()
	var list v1alpha1.RemediationPolicyList
	if err := (*r).List(ctx, &list); err != nil {
		return
	}
	type key struct{ condition, status, reason string }
	counts := map[key]int{}
	for i := range list.Items {
		for _, c := range list.Items[i].Status.Conditions {
			counts[key{c.Type, string(c.Status), c.Reason}]++
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(policyConditionsDesc, prometheus.GaugeValue, float64(n), k.condition, k.status, k.reason)
	}
}
