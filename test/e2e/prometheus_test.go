//go:build e2e && reliability

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"dot-ai.io/controller/test/e2e/harness"
)

// promFor is the `for:` of every chart alert in the e2e's Prometheus: short
// enough that an outage of seconds fires, longer than one evaluation.
const promFor = "3s"

// prometheus is a real Prometheus server (Debian's package, as promtool in
// make test) that scrapes the controller and evaluates the chart's alert
// rules, started by the test on 127.0.0.1 and stopped by its PID.
type prometheus struct {
	cmd     *exec.Cmd
	baseURL string
	exited  chan struct{}
	log     string
}

// startPrometheus scrapes metricsURL with token every second, labelling the
// series with the release namespace (as the ServiceMonitor's target labels
// do), and evaluates the chart's PrometheusRule rendered with every `for:`
// set to promFor.
func (s *suite) startPrometheus(t *testing.T, metricsURL, token string) *prometheus {
	t.Helper()
	bin := os.Getenv("PROMETHEUS")
	if bin == "" {
		var err error
		bin, err = exec.LookPath("prometheus")
		require.NoError(t, err, "the prometheus binary (Debian's prometheus package; .ci/run installs it) or PROMETHEUS=path")
	}
	dir := t.TempDir()
	target, err := url.Parse(metricsURL)
	require.NoError(t, err)
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token), 0o600))
	rulesFile := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesFile, s.chartRules(t), 0o600))
	cfg := map[string]any{
		"global":     map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"},
		"rule_files": []string{rulesFile},
		"scrape_configs": []any{map[string]any{
			"job_name": "dot-ai-controller", "scheme": target.Scheme, "metrics_path": target.Path,
			"tls_config":     map[string]any{"insecure_skip_verify": true},
			"authorization":  map[string]any{"credentials_file": tokenFile},
			"static_configs": []any{map[string]any{"targets": []string{target.Host}, "labels": map[string]string{"namespace": s.releaseNS}}},
		}},
	}
	data, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgFile, data, 0o600))

	addr := freeLoopbackAddr(t)
	p := &prometheus{baseURL: "http://" + addr, exited: make(chan struct{}), log: filepath.Join(dir, "prometheus.log")}
	logf, err := os.Create(p.log)
	require.NoError(t, err)
	p.cmd = exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--storage.tsdb.retention.time=1h")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		_ = logf.Close()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	require.Truef(t, waitUntil(t.Context(), time.Minute, func() bool {
		resp, err := http.Get(p.baseURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}), "prometheus never became ready; log: %s", p.log)
	bad, err := harness.NonLoopbackSockets(p.cmd.Process.Pid)
	require.NoError(t, err)
	assert.Empty(t, bad, "prometheus sockets outside loopback")
	return p
}

// stop ends the Prometheus this test started, by its PID.
func (p *prometheus) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// chartRules renders the chart's PrometheusRule (the cluster has no
// Prometheus Operator, so its API is declared to helm) with every alert's
// `for:` set to promFor, and returns its groups as a rules file.
func (s *suite) chartRules(t *testing.T) []byte {
	t.Helper()
	chart := filepath.Join(s.root, "charts", "dot-ai-controller")
	raw, err := os.ReadFile(filepath.Join(chart, "files", "prometheus-rules.yaml"))
	require.NoError(t, err)
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
			} `json:"rules"`
		} `json:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &file))
	args := []string{"template", s.release, chart, "--namespace", s.releaseNS,
		"--api-versions", "monitoring.coreos.com/v1/PrometheusRule", "--show-only", "templates/prometheusrule.yaml",
		"--set", "prometheusRule.enabled=true", "--set", "mcp.endpoint=http://127.0.0.1:1"}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			args = append(args, "--set", fmt.Sprintf("prometheusRule.for.%s=%s", r.Alert, promFor))
		}
	}
	out, err := s.helmOut(args...)
	require.NoErrorf(t, err, "helm template of the PrometheusRule: %s", out)
	var rule struct {
		Spec map[string]any `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(out, &rule))
	require.NotEmpty(t, rule.Spec["groups"], "the rendered PrometheusRule has groups:\n%s", out)
	data, err := yaml.Marshal(rule.Spec)
	require.NoError(t, err)
	return data
}

// alertStates returns the state (pending, firing) of each active alert.
func (p *prometheus) alertStates(ctx context.Context) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.baseURL+"/api/v1/alerts", http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, a := range body.Data.Alerts {
		if out[a.Labels["alertname"]] != "firing" {
			out[a.Labels["alertname"]] = a.State
		}
	}
	return out, nil
}

// targetUp reports whether Prometheus' scrape of the controller is up.
func (p *prometheus) targetUp(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.baseURL+"/api/v1/query?query=up", http.NoBody)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Data.Result) != 1 || len(body.Data.Result[0].Value) != 2 {
		return false
	}
	return body.Data.Result[0].Value[1] == "1"
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port free now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// alertWatch records, every 500 ms until stopped, when each alert was first
// seen firing and last seen active (pending or firing).
type alertWatch struct {
	firstFiring, lastActive map[string]time.Time
	stop                    context.CancelFunc
	done                    chan struct{}
}

func (p *prometheus) watchAlerts(ctx context.Context) *alertWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &alertWatch{firstFiring: map[string]time.Time{}, lastActive: map[string]time.Time{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			if states, err := p.alertStates(ctx); err == nil {
				now := time.Now()
				for name, st := range states {
					w.lastActive[name] = now
					if _, ok := w.firstFiring[name]; !ok && st == "firing" {
						w.firstFiring[name] = now
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return w
}

// Stop ends the watch; its maps may be read afterwards.
func (w *alertWatch) Stop() {
	w.stop()
	<-w.done
}

func alertNames(m map[string]time.Time) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, ",")
}
