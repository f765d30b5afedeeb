package helm

import (
	"flag"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
)

// TestPolicyDefaultsMatchConfig checks that the chart's default
// policyDefaults are the binary's built-in ones (config.Default), field by
// field: the rendered --default-* flags are parsed over defaults that differ
// from config.Default's in every field, so a flag the chart leaves out or a
// value on either side that changes fails here.
func TestPolicyDefaultsMatchConfig(t *testing.T) {
	r := mustRender(t, nil, renderOpts{})
	c := managerContainer(t, deployment(t, r))
	var args []string
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--default-") {
			args = append(args, a)
		}
	}
	want := config.Default().Defaults
	s := config.Default()
	s.Defaults = differentInEveryField(t, want)
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	s.BindFlags(fs)
	require.NoError(t, fs.Parse(args))
	assert.Equal(t, want, s.Defaults)

	// The values file's block has one key per field, named like it.
	block, ok := r.rel.Chart.Values["policyDefaults"].(map[string]any)
	require.True(t, ok, "values.yaml has no policyDefaults block")
	var keys, fields []string
	for k := range block {
		keys = append(keys, k)
	}
	typ := reflect.TypeFor[config.PolicyDefaults]()
	for f := range typ.Fields() {
		name := []rune(f.Name)
		name[0] = unicode.ToLower(name[0])
		fields = append(fields, string(name))
	}
	slices.Sort(keys)
	slices.Sort(fields)
	assert.Equal(t, fields, keys)
}

// differentInEveryField returns d with every field changed.
func differentInEveryField(t *testing.T, d config.PolicyDefaults) config.PolicyDefaults {
	v := reflect.ValueOf(&d).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Int32, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Float64:
			f.SetFloat(f.Float()/2 + 0.01)
		case reflect.String:
			f.SetString(f.String() + "-x")
		default:
			t.Fatalf("PolicyDefaults.%s: no way to change a %s", v.Type().Field(i).Name, f.Kind())
		}
	}
	return d
}

// TestGuardrailsMatchConfig checks that the chart's default guardrails
// render to flags that parse to the binary's built-in ones (config.Default),
// and that values set away from them reach the settings.
func TestGuardrailsMatchConfig(t *testing.T) {
	parse := func(t *testing.T, values map[string]any) config.Guardrails {
		t.Helper()
		c := managerContainer(t, deployment(t, mustRender(t, values, renderOpts{})))
		s := config.Default()
		s.Guardrails = config.Guardrails{MaxRiskLevel: "x", CallsPerHour: -1, NamespaceCallsPerHour: -1}
		fs := flag.NewFlagSet("chart", flag.ContinueOnError)
		s.BindFlags(fs)
		var args []string
		for _, a := range c.Args {
			name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if slices.Contains([]string{config.FlagAutomaticModeNamespaces, config.FlagMaxRiskLevel, config.FlagNamespaceMaxRiskLevels,
				config.FlagAnalysisCallsPerHour, config.FlagNamespaceAnalysisCallsPerHour}, name) {
				args = append(args, a)
			}
		}
		require.NoError(t, fs.Parse(args))
		return s.Guardrails
	}
	t.Run("defaults", func(t *testing.T) {
		assert.Equal(t, config.Default().Guardrails, parse(t, nil))
	})
	t.Run("values reach the settings", func(t *testing.T) {
		got := parse(t, map[string]any{"guardrails": map[string]any{
			"automaticModeNamespaces": []any{"*"},
			"maxRiskLevel":            map[string]any{"default": "low", "namespaces": map[string]any{"platform": "high", "ops": "medium"}},
			"budget":                  map[string]any{"callsPerHour": 7, "namespaceCallsPerHour": 3},
		}})
		assert.Equal(t, config.Guardrails{
			AutomaticModeNamespaces: []string{config.AllNamespaces},
			MaxRiskLevel:            "low",
			NamespaceMaxRiskLevels:  map[string]v1alpha1.RiskLevel{"platform": "high", "ops": "medium"},
			CallsPerHour:            7,
			NamespaceCallsPerHour:   3,
		}, got)
	})
}

// TestNotificationsMatchConfig checks that the chart's notifications block
// renders to flags that parse to the binary's built-in settings, and that
// values set away from them reach the settings.
func TestNotificationsMatchConfig(t *testing.T) {
	parse := func(t *testing.T, values map[string]any) config.Notifications {
		t.Helper()
		c := managerContainer(t, deployment(t, mustRender(t, values, renderOpts{})))
		s := config.Default()
		s.Notifications = config.Notifications{}
		fs := flag.NewFlagSet("chart", flag.ContinueOnError)
		s.BindFlags(fs)
		var args []string
		for _, a := range c.Args {
			if strings.HasPrefix(a, "--notification-") {
				args = append(args, a)
			}
		}
		require.NoError(t, fs.Parse(args))
		return s.Notifications
	}
	t.Run("defaults", func(t *testing.T) {
		assert.Equal(t, config.DefaultNotifications(), parse(t, nil))
	})
	t.Run("values reach the settings", func(t *testing.T) {
		got := parse(t, map[string]any{"notifications": map[string]any{
			"allowedURLs": []any{"http://127.0.0.1:8080/hooks", "http://localhost:9000/in"},
			"groupWindow": "1m", "maxPerMinute": 3, "queueSize": 50, "workers": 2, "maxGroupItems": 5,
		}})
		assert.Equal(t, config.Notifications{
			AllowedURLs: []string{"http://127.0.0.1:8080/hooks", "http://localhost:9000/in"},
			GroupWindow: time.Minute, MaxPerMinute: 3, QueueSize: 50, Workers: 2, MaxGroupItems: 5,
		}, got)
	})
}
