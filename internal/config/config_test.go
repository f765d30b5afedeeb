package config

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/api/v1alpha1"
)

// checkParse parses args and env as the binary does and expects an error
// containing wantErr, or (wantErr empty) settings that pass check.
func checkParse(t *testing.T, args []string, env map[string]string, wantErr string, check func(*testing.T, Settings)) {
	t.Helper()
	s, err := parse(t, args, env)
	if wantErr != "" {
		require.Error(t, err)
		assert.Contains(t, err.Error(), wantErr)
		return
	}
	require.NoError(t, err)
	check(t, s)
}

func parse(t *testing.T, args []string, env map[string]string) (Settings, error) {
	t.Helper()
	s := Default()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if err := ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		return s, err
	}
	err := s.Validate()
	return s, err
}

func TestFlagsAndEnv(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     map[string]string
		check   func(t *testing.T, s Settings)
		wantErr string
	}{
		"defaults are valid": {
			check: func(t *testing.T, s Settings) {
				assert.Equal(t, Default(), s)
			},
		},
		"flags set settings and policy defaults": {
			args: []string{"--mcp-endpoint=http://127.0.0.1:3456/api/v1/tools/remediate", "--mcp-allowed-endpoints=http://127.0.0.1:4000/x, https://mcp.local/*",
				"--cluster-policy-namespaces=ops,platform", "--default-mode=automatic", "--default-log-lines=42", "--concurrency=7"},
			check: func(t *testing.T, s Settings) {
				assert.Equal(t, []string{"http://127.0.0.1:4000/x", "https://mcp.local/*"}, s.MCPAllowedEndpoints)
				assert.Equal(t, []string{"ops", "platform"}, s.ClusterPolicyNamespaces)
				assert.Equal(t, v1alpha1.ModeAutomatic, s.Defaults.Mode)
				assert.EqualValues(t, 42, s.Defaults.LogLines)
				assert.Equal(t, 7, s.Concurrency)
			},
		},
		"env fills flags not given; flags win": {
			args: []string{"--concurrency=3"},
			env:  map[string]string{"DOT_AI_CONCURRENCY": "9", "DOT_AI_NAMESPACE": "ops", "DOT_AI_DRAIN_TIMEOUT": "5s"},
			check: func(t *testing.T, s Settings) {
				assert.Equal(t, 3, s.Concurrency)
				assert.Equal(t, "ops", s.Namespace)
				assert.Equal(t, 5*time.Second, s.DrainTimeout)
			},
		},
		"unknown flag":              {args: []string{"--mcp-endpont=x"}, wantErr: "flag provided but not defined: -mcp-endpont"},
		"bad env value":             {env: map[string]string{"DOT_AI_CONCURRENCY": "many"}, wantErr: "DOT_AI_CONCURRENCY"},
		"bad mode":                  {args: []string{"--default-mode=yolo"}, wantErr: "Mode"},
		"confidence out of range":   {args: []string{"--default-confidence-threshold=2"}, wantErr: "ConfidenceThreshold"},
		"endpoint with userinfo":    {args: []string{"--mcp-endpoint=http://u:p@127.0.0.1/"}, wantErr: "user info"},
		"endpoint not http":         {args: []string{"--mcp-endpoint=ftp://127.0.0.1/"}, wantErr: "scheme"},
		"allow-list host wildcard":  {args: []string{"--mcp-allowed-endpoints=https://*.svc/"}, wantErr: "mcp-allowed-endpoints: entry 0: may end in '/*'"},
		"allow-list raw prefix":     {args: []string{"--mcp-allowed-endpoints=http://127.0.0.1:3456/,https://x.svc*"}, wantErr: "entry 1: may end in '/*'"},
		"allow-list whitespace":     {args: []string{"--mcp-allowed-endpoints=http://127.0.0.1:3456/api v1"}, wantErr: "whitespace"},
		"zero concurrency":          {args: []string{"--concurrency=0"}, wantErr: "Concurrency"},
		"breaker cooldown under 1s": {args: []string{"--mcp-breaker-cooldown=10ms"}, wantErr: "MCPBreakerCooldown"},
		"negative outage hold":      {args: []string{"--mcp-outage-hold=-1s"}, wantErr: "MCPOutageHold"},
		"log lines not a number":    {args: []string{"--default-log-lines=ten"}, wantErr: "default-log-lines"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			checkParse(t, tc.args, tc.env, tc.wantErr, tc.check)
		})
	}
}

func TestEndpointPolicy(t *testing.T) {
	s := Default()
	s.MCPEndpoint = "http://127.0.0.1:3456/api/v1/tools/remediate"
	s.MCPAllowedEndpoints = []string{"http://127.0.0.1:4000/api/v1/tools/remediate", "https://mcp.local/team-a/*"}
	tests := map[string]bool{
		"": true,
		"http://127.0.0.1:3456/api/v1/tools/remediate": true,
		"http://127.0.0.1:4000/api/v1/tools/remediate": true,
		"https://mcp.local/team-a/api":                 true,
		"https://mcp.local/other":                      false,
		"https://mcp.local/team-ab/api":                false, // prefix on a '/' boundary only
		"https://mcp.local.evil.io/team-a/api":         false,
		"http://127.0.0.1:3456@evil.io/":               false,
		"http://127.0.0.1:3457/api/v1/tools/remediate": false,
	}
	for endpoint, want := range tests {
		assert.Equal(t, want, s.IsAllowedEndpoint(endpoint), endpoint)
	}
	assert.Equal(t, s.MCPEndpoint, s.EffectiveEndpoint(""))
	assert.Equal(t, "http://x", s.EffectiveEndpoint("http://x"))
}

func TestClusterPolicyNamespaces(t *testing.T) {
	s := Default()
	s.Namespace = "dot-ai"
	assert.True(t, s.IsClusterPolicyNamespace("dot-ai"), "own namespace by default")
	assert.False(t, s.IsClusterPolicyNamespace("team-a"))
	s.ClusterPolicyNamespaces = []string{"ops"}
	assert.True(t, s.IsClusterPolicyNamespace("ops"))
	assert.False(t, s.IsClusterPolicyNamespace("dot-ai"), "an explicit list replaces the default")
}
