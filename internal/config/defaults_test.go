package config

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"dot-ai.io/controller/api/v1alpha1"
)

// TestPolicyDefaultsBoundsMatchAPI: a policy default must pass the CRD's
// bounds, so the validate tags of PolicyDefaults (literals, as struct tags
// must be) carry the API's constants.
func TestPolicyDefaultsBoundsMatchAPI(t *testing.T) {
	between := func(lo, hi any) string { return fmt.Sprintf("gte=%v,lte=%v", lo, hi) }
	want := map[string]string{
		"Mode":                "oneof=manual automatic",
		"ConfidenceThreshold": between(v1alpha1.MinConfidenceThreshold, v1alpha1.MaxConfidenceThreshold),
		"MaxRiskLevel":        "oneof=low medium high",
		"McpTool":             fmt.Sprintf("required,max=%d", v1alpha1.MaxMcpToolLength),
		"EventsPerMinute":     between(v1alpha1.MinEventsPerMinute, v1alpha1.MaxEventsPerMinute),
		"CooldownMinutes":     between(v1alpha1.MinCooldownMinutes, v1alpha1.MaxCooldownMinutes),
		"MinOccurrences":      between(v1alpha1.MinMinOccurrences, v1alpha1.MaxMinOccurrences),
		// An installation default window must be positive (a policy's 0 is
		// "off", resolved to the default).
		"OccurrenceWindowSeconds": between(1, v1alpha1.MaxOccurrenceWindowSeconds),
		"LogLines":                between(v1alpha1.MinLogLines, v1alpha1.MaxLogLines),
		"MaxLogBytes":             between(v1alpha1.MinMaxLogBytes, v1alpha1.MaxMaxLogBytes),
		"LookbackMinutes":         between(v1alpha1.MinLookbackMinutes, v1alpha1.MaxLookbackMinutes),
	}
	typ := reflect.TypeFor[PolicyDefaults]()
	for f := range typ.Fields() {
		assert.Equal(t, want[f.Name], f.Tag.Get("validate"), f.Name)
	}
}

// TestDefaultPolicyDefaultsAreValid: the built-in defaults pass the settings' own rules.
func TestDefaultPolicyDefaultsAreValid(t *testing.T) {
	s := Default()
	assert.NoError(t, validate.Struct(s.Defaults))
}
