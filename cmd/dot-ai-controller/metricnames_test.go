package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"
)

// chartFiles is where the chart keeps its dashboard and alert rules.
const chartFiles = "../../charts/dot-ai-controller/files"

// TestDashboardAndRulesUseRegisteredMetrics parses every expression of the
// chart's Grafana dashboard and alert rules with the PromQL parser and checks
// that each metric it selects is registered by this binary (its packages
// register on load). A labelled family appears in a scrape only once
// observed, so the check asks the registry itself: registering a probe
// descriptor of the same name fails exactly when the name is taken.
func TestDashboardAndRulesUseRegisteredMetrics(t *testing.T) {
	exprs := map[string]string{} // where -> expression
	for i, e := range dashboardExprs(t) {
		exprs[fmt.Sprintf("dashboard panel %q query %d", e.where, i)] = e.expr
	}
	for alert, e := range ruleExprs(t) {
		exprs["alert "+alert] = e
	}
	require.NotEmpty(t, exprs)

	p := parser.NewParser(parser.Options{})
	used := map[string][]string{}
	for where, e := range exprs {
		expr, err := p.ParseExpr(grafanaVars.Replace(e))
		require.NoError(t, err, "%s: %s", where, e)
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			assert.NotEmpty(t, vs.Name, "%s: selector %s names no metric", where, vs)
			used[vs.Name] = append(used[vs.Name], where)
			return nil
		})
	}
	var missing []string
	for name, wheres := range used {
		if !registered(t, name) {
			sort.Strings(wheres)
			missing = append(missing, name+" (used by "+strings.Join(wheres, ", ")+")")
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "metrics the binary does not register")
}

// TestRegisteredProbe: the probe tells registered names from others, so the
// check above can fail.
func TestRegisteredProbe(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"dotai_events_seen_total", true},
		{"dotai_event_watch_activity_timestamp_seconds", true}, // a vector never observed here
		{"dotai_mcp_request_duration_seconds_bucket", true},    // a histogram's series
		{"controller_runtime_webhook_requests_total", true},    // controller-runtime's
		{"leader_election_master_status", true},                // client-go's, via controller-runtime
		{"dotai_events_seen", false},                           // a typo
		{"dotai_no_such_metric_total", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, registered(t, tc.name)) })
	}
}

// registered says whether metrics.Registry has a collector describing name
// (or, for a histogram's or summary's series, its family name).
func registered(t *testing.T, name string) bool {
	t.Helper()
	candidates := []string{name}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			candidates = append(candidates, base)
		}
	}
	for _, c := range candidates {
		probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: c, Help: "probe of the metric-name test"})
		err := metrics.Registry.Register(probe)
		if err == nil {
			metrics.Registry.Unregister(probe)
			continue
		}
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) || strings.Contains(err.Error(), "previously registered descriptor with the same fully-qualified name") {
			return true
		}
		t.Fatalf("probing %s: %v", c, err)
	}
	return false
}

// grafanaVars replaces the dashboard's Grafana variables the parser cannot
// read (inside label values they are plain strings).
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

type located struct{ where, expr string }

func dashboardExprs(t *testing.T) []located {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartFiles, "dashboard.json"))
	require.NoError(t, err)
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &d))
	var out []located
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, located{where: p.Title, expr: tg.Expr})
			}
			var nested []panel
			for _, raw := range p.Panels {
				var np panel
				require.NoError(t, json.Unmarshal(raw, &np))
				nested = append(nested, np)
			}
			walk(nested)
		}
	}
	walk(d.Panels)
	require.NotEmpty(t, out, "the dashboard has no queries")
	return out
}

func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartFiles, "prometheus-rules.yaml"))
	require.NoError(t, err)
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert  string `json:"alert"`
				Record string `json:"record"`
				Expr   string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(data, &f))
	out := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out[r.Alert+r.Record] = r.Expr
		}
	}
	require.NotEmpty(t, out, "no rules")
	return out
}
