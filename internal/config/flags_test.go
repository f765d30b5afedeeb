package config

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBindFlagsRegistersTheSharedNames(t *testing.T) {
	names := []string{
		FlagNamespace, FlagServiceAccount, FlagMCPEndpoint, FlagMCPAllowedEndpoints, FlagMCPTokenFile, FlagMCPCAFile, FlagMCPTimeout,
		FlagMCPBreakerCooldown, FlagMCPOutageHold, FlagClusterPolicyNamespaces, FlagConcurrency, FlagQueueSize,
		FlagDrainTimeout, FlagDefaultMode, FlagDefaultConfidenceThreshold, FlagDefaultMaxRiskLevel, FlagDefaultMCPTool,
		FlagDefaultEventsPerMinute, FlagDefaultCooldownMinutes, FlagDefaultMinOccurrences, FlagDefaultOccurrenceWindowSeconds, FlagDefaultIncludeLogs, FlagDefaultLogLines,
		FlagDefaultMaxLogBytes, FlagDefaultIncludePreviousLogs, FlagDefaultIncludeRelatedEvents,
		FlagDefaultLookbackMinutes, FlagDefaultIncludeResourceSpec, FlagDefaultIncludeMetrics,
		FlagAutomaticModeNamespaces, FlagMaxRiskLevel, FlagNamespaceMaxRiskLevels, FlagAnalysisCallsPerHour,
		FlagNamespaceAnalysisCallsPerHour, FlagDefaultNotifyOnStart, FlagDefaultNotifyOnComplete,
		FlagNotificationAllowedURLs, FlagNotificationGroupWindow, FlagNotificationMaxPerMinute,
		FlagNotificationQueueSize, FlagNotificationWorkers, FlagNotificationMaxGroupItems,
		FlagRemediationApprovalWindow, FlagRemediationRetentionCount, FlagRemediationRetentionAge,
		FlagRemediationMaxOpen, FlagRemediationSealSecret,
	}
	s := Default()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	s.BindFlags(fs)
	registered := 0
	fs.VisitAll(func(*flag.Flag) { registered++ })
	for _, n := range names {
		assert.NotNil(t, fs.Lookup(n), "flag %s", n)
	}
	assert.Equal(t, len(names), registered, "every Settings flag has a shared name")
}

func TestAllInterfaces(t *testing.T) {
	tests := map[string]struct {
		port int
		want string
	}{
		"health probe": {port: DefaultHealthProbePort, want: ":8081"},
		"metrics":      {port: DefaultMetricsPort, want: ":8443"},
		"webhook":      {port: DefaultWebhookPort, want: ":9443"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, AllInterfaces(tc.port))
		})
	}
}
