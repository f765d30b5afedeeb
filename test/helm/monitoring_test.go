package helm

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const prometheusRuleAPI = "monitoring.coreos.com/v1/PrometheusRule"

// ruleGroups is the part of a PrometheusRule's spec the tests read.
type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func renderedRules(t *testing.T, values map[string]any) (ruleGroups, []byte) {
	t.Helper()
	r := mustRender(t, values, renderOpts{extraAPIs: []string{prometheusRuleAPI}})
	pr := r.find(t, "PrometheusRule", fullname)
	spec, err := yaml.Marshal(pr.Object["spec"])
	require.NoError(t, err)
	var g ruleGroups
	require.NoError(t, yaml.Unmarshal(spec, &g))
	return g, spec
}

func TestPrometheusRuleOnlyWithAPI(t *testing.T) {
	tests := []struct {
		name      string
		values    map[string]any
		apis      []string
		wantRule  bool
		wantNotes string
	}{
		{name: "off by default", apis: []string{prometheusRuleAPI}},
		{name: "enabled without the API", values: map[string]any{"prometheusRule": map[string]any{"enabled": true}},
			wantNotes: "no PrometheusRule was created: the cluster does not serve monitoring.coreos.com/v1"},
		{name: "enabled without metrics", apis: []string{prometheusRuleAPI},
			values:    map[string]any{"prometheusRule": map[string]any{"enabled": true}, "metrics": map[string]any{"enabled": false}},
			wantNotes: "no PrometheusRule was created: metrics.enabled is false"},
		{name: "enabled with the API", values: map[string]any{"prometheusRule": map[string]any{"enabled": true}},
			apis: []string{prometheusRuleAPI}, wantRule: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.values, renderOpts{extraAPIs: tc.apis})
			assert.Equal(t, tc.wantRule, r.kinds()["PrometheusRule"] == 1)
			if tc.wantNotes != "" {
				assert.Contains(t, r.rel.Info.Notes, tc.wantNotes)
			} else {
				assert.NotContains(t, r.rel.Info.Notes, "no PrometheusRule was created")
			}
		})
	}
}

// TestPrometheusRuleValues: every alert takes its `for:` from values, gets
// the extra labels, and links a section of docs/runbooks.md that exists.
func TestPrometheusRuleValues(t *testing.T) {
	defaults := loadValues(t, filepath.Join(chartDir(), "values.yaml"))["prometheusRule"].(map[string]any)
	forDefaults := defaults["for"].(map[string]any)
	anchors := runbookAnchors(t)

	g, _ := renderedRules(t, map[string]any{"prometheusRule": map[string]any{
		"enabled": true, "runbookBaseURL": "https://docs.example.test/runbooks",
		"ruleLabels": map[string]any{"team": "platform", "severity": "ignored"},
		"for":        map[string]any{"DotAINoLeader": "7m"},
	}})
	seen := map[string]bool{}
	for _, grp := range g.Groups {
		for _, rule := range grp.Rules {
			seen[rule.Alert] = true
			want := forDefaults[rule.Alert]
			if rule.Alert == "DotAINoLeader" {
				want = "7m"
			}
			assert.Equal(t, want, rule.For, rule.Alert)
			assert.Equal(t, "platform", rule.Labels["team"], rule.Alert)
			assert.NotEqual(t, "ignored", rule.Labels["severity"], "%s: the alert's own severity wins", rule.Alert)
			anchor, ok := strings.CutPrefix(rule.Annotations["runbook_url"], "https://docs.example.test/runbooks#")
			require.True(t, ok, "%s: runbook_url %q", rule.Alert, rule.Annotations["runbook_url"])
			assert.True(t, anchors[anchor], "%s: docs/runbooks.md has no section #%s", rule.Alert, anchor)
		}
	}
	for alert := range forDefaults {
		assert.True(t, seen[alert], "prometheusRule.for.%s names no alert", alert)
	}
	assert.Len(t, seen, len(forDefaults), "every alert has a prometheusRule.for value")
}

// runbookAnchors are GitHub's anchors of docs/runbooks.md's headings.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot(), "docs", "runbooks.md"))
	require.NoError(t, err)
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	out := map[string]bool{}
	for l := range strings.SplitSeq(string(doc), "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			out[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")] = true
		}
	}
	return out
}

func TestGrafanaDashboard(t *testing.T) {
	file, err := os.ReadFile(filepath.Join(chartDir(), "files", "dashboard.json"))
	require.NoError(t, err)
	tests := []struct {
		name   string
		values map[string]any
		wantNS string // empty: no ConfigMap
	}{
		{name: "off by default"},
		{name: "enabled", values: map[string]any{"grafanaDashboard": map[string]any{"enabled": true}}, wantNS: releaseNamespace},
		{name: "in the sidecar's namespace", values: map[string]any{"grafanaDashboard": map[string]any{"enabled": true, "namespace": "monitoring"}}, wantNS: "monitoring"},
		{name: "not without metrics", values: map[string]any{"grafanaDashboard": map[string]any{"enabled": true}, "metrics": map[string]any{"enabled": false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.values, renderOpts{})
			var cms []*corev1.ConfigMap
			for _, o := range r.objects {
				if o.GetKind() == "ConfigMap" && o.GetName() == fullname+"-dashboard" {
					cms = append(cms, into[corev1.ConfigMap](t, o))
				}
			}
			if tc.wantNS == "" {
				assert.Empty(t, cms)
				return
			}
			require.Len(t, cms, 1)
			cm := cms[0]
			assert.Equal(t, tc.wantNS, cm.Namespace)
			assert.Equal(t, "1", cm.Labels["grafana_dashboard"], "the sidecar's default label")
			assert.JSONEq(t, string(file), cm.Data["dot-ai-controller.json"])
			var d struct {
				UID    string `json:"uid"`
				Panels []struct {
					ID int `json:"id"`
				} `json:"panels"`
			}
			require.NoError(t, json.Unmarshal([]byte(cm.Data["dot-ai-controller.json"]), &d))
			assert.NotEmpty(t, d.UID)
			ids := map[int]bool{}
			for _, p := range d.Panels {
				assert.False(t, ids[p.ID], "panel id %d is not unique", p.ID)
				ids[p.ID] = true
			}
		})
	}
}

// TestPrometheusRulesPromtool runs `promtool check rules` and `promtool test
// rules` (testdata/prometheus-rules-tests.yaml) on the rules the chart
// renders with its default values, i.e. the production `for:` windows. It
// needs PROMTOOL (make promtool-test sets it; it is skipped otherwise, so
// `go test ./...` without promtool stays green).
func TestPrometheusRulesPromtool(t *testing.T) {
	promtool := os.Getenv("PROMTOOL")
	if promtool == "" {
		t.Skip("PROMTOOL is not set; make promtool-test runs this test")
	}
	_, spec := renderedRules(t, map[string]any{"prometheusRule": map[string]any{"enabled": true}})
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), spec, 0o600))
	tests, err := os.ReadFile(filepath.Join("testdata", "prometheus-rules-tests.yaml"))
	require.NoError(t, err)
	base := loadValues(t, filepath.Join(chartDir(), "values.yaml"))["prometheusRule"].(map[string]any)["runbookBaseURL"].(string)
	tests = []byte(strings.ReplaceAll(string(tests), "RUNBOOK#", base+"#"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tests.yaml"), tests, 0o600))

	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "tests.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}

	// One test case per alert.
	var suite struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	require.NoError(t, yaml.Unmarshal(tests, &suite))
	tested := map[string]bool{}
	for _, tc := range suite.Tests {
		for _, a := range tc.AlertRuleTest {
			tested[a.Alertname] = true
		}
	}
	g, _ := renderedRules(t, map[string]any{"prometheusRule": map[string]any{"enabled": true}})
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			assert.True(t, tested[r.Alert], "no promtool test of %s", r.Alert)
		}
	}
}
