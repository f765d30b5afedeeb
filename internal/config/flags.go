package config

import (
	"net"
	"strconv"
	"time"
)

// Names of the binary's flags. The binary registers them from here and the
// e2e harness, which rewrites the Deployment's args to run the binary
// locally, reads and writes them from here, so a renamed flag cannot leave
// the harness passing one the binary no longer knows.
const (
	// Process flags (cmd/dot-ai-controller).
	FlagMetricsBindAddress       = "metrics-bind-address"
	FlagMetricsSecure            = "metrics-secure"
	FlagHealthProbeBindAddress   = "health-probe-bind-address"
	FlagPprofBindAddress         = "pprof-bind-address"
	FlagWebhookHost              = "webhook-host"
	FlagWebhookPort              = "webhook-port"
	FlagWebhookCertDir           = "webhook-cert-dir"
	FlagEnableHTTP2              = "enable-http2"
	FlagLeaderElect              = "leader-elect"
	FlagLeaderElectionID         = "leader-election-id"
	FlagLeaderElectLeaseDuration = "leader-elect-lease-duration"
	FlagLeaderElectRenewDeadline = "leader-elect-renew-deadline"
	FlagLeaderElectRetryPeriod   = "leader-elect-retry-period"
	FlagGracefulShutdownTimeout  = "graceful-shutdown-timeout"
	FlagVersion                  = "version"
	FlagKubeconfig               = "kubeconfig"
	FlagKubeAPIQPS               = "kube-api-qps"
	FlagKubeAPIBurst             = "kube-api-burst"
	FlagEnrichmentAPIQPS         = "enrichment-api-qps"
	FlagEnrichmentAPIBurst       = "enrichment-api-burst"
	FlagLogAPIQPS                = "log-api-qps"
	FlagLogAPIBurst              = "log-api-burst"
	FlagMemoryLimit              = "memory-limit"
	FlagGCPercent                = "gc-percent"
	FlagEventWatchStallTimeout   = "event-watch-stall-timeout"

	// Settings flags (Settings.BindFlags).
	FlagNamespace               = "namespace"
	FlagServiceAccount          = "service-account"
	FlagMCPEndpoint             = "mcp-endpoint"
	FlagMCPAllowedEndpoints     = "mcp-allowed-endpoints"
	FlagMCPTokenFile            = "mcp-token-file"
	FlagMCPCAFile               = "mcp-ca-file"
	FlagMCPTimeout              = "mcp-timeout"
	FlagMCPBreakerCooldown      = "mcp-breaker-cooldown"
	FlagMCPOutageHold           = "mcp-outage-hold"
	FlagClusterPolicyNamespaces = "cluster-policy-namespaces"
	FlagConcurrency             = "concurrency"
	FlagQueueSize               = "queue-size"
	FlagDrainTimeout            = "drain-timeout"

	// Guardrails (Settings.BindFlags, the chart's guardrails block).
	FlagAutomaticModeNamespaces       = "automatic-mode-namespaces"
	FlagMaxRiskLevel                  = "max-risk-level"
	FlagNamespaceMaxRiskLevels        = "namespace-max-risk-levels"
	FlagAnalysisCallsPerHour          = "analysis-calls-per-hour"
	FlagNamespaceAnalysisCallsPerHour = "namespace-analysis-calls-per-hour"

	// Policy defaults (Settings.BindFlags, the chart's policyDefaults).
	FlagDefaultMode                    = "default-mode"
	FlagDefaultConfidenceThreshold     = "default-confidence-threshold"
	FlagDefaultMaxRiskLevel            = "default-max-risk-level"
	FlagDefaultMCPTool                 = "default-mcp-tool"
	FlagDefaultEventsPerMinute         = "default-events-per-minute"
	FlagDefaultCooldownMinutes         = "default-cooldown-minutes"
	FlagDefaultMinOccurrences          = "default-min-occurrences"
	FlagDefaultOccurrenceWindowSeconds = "default-occurrence-window-seconds"
	FlagDefaultIncludeLogs             = "default-include-logs"
	FlagDefaultLogLines                = "default-log-lines"
	FlagDefaultMaxLogBytes             = "default-max-log-bytes"
	FlagDefaultIncludePreviousLogs     = "default-include-previous-logs"
	FlagDefaultIncludeRelatedEvents    = "default-include-related-events"
	FlagDefaultLookbackMinutes         = "default-lookback-minutes"
	FlagDefaultIncludeResourceSpec     = "default-include-resource-spec"
	FlagDefaultIncludeMetrics          = "default-include-metrics"
	FlagDefaultNotifyOnStart           = "default-notify-on-start"
	FlagDefaultNotifyOnComplete        = "default-notify-on-complete"

	// Notifications (Settings.BindFlags, the chart's notifications block).
	FlagNotificationAllowedURLs   = "notification-allowed-urls"
	FlagNotificationGroupWindow   = "notification-group-window"
	FlagNotificationMaxPerMinute  = "notification-max-per-minute"
	FlagNotificationQueueSize     = "notification-queue-size"
	FlagNotificationWorkers       = "notification-workers"
	FlagNotificationMaxGroupItems = "notification-max-group-items"

	// Remediation records (Settings.BindFlags, the chart's remediations block).
	FlagRemediationApprovalWindow = "remediation-approval-window"
	FlagRemediationRetentionCount = "remediation-retention-count"
	FlagRemediationRetentionAge   = "remediation-retention-age"
	FlagRemediationMaxOpen        = "remediation-max-open-per-namespace"
	FlagRemediationSealSecret     = "remediation-seal-secret"
)

// The binary's default listener ports. The harness needs them to know which
// container port a Service targets when the Deployment leaves a flag unset.
const (
	DefaultMetricsPort     = 8443
	DefaultHealthProbePort = 8081
	DefaultWebhookPort     = 9443
)

// The binary's default client-side limits on Kubernetes API requests, per
// client. None has a client-side limit by default (-1). The controller's own
// client (status, checkpoint and Remediation record writes, Secrets, leader
// election) writes about 3 records' requests per delivery, so 50 QPS capped
// deliveries at about 18/s (docs/benchmarks.md, enrichment end to end).
// Enrichment reads and log reads have a client each: the worker pool bounds them (Concurrency
// calls, each a few reads), and the API server's priority and fairness
// shares the server among clients, which a fixed QPS cannot: at 50 QPS the
// shared bucket capped enrichment at about 16 events/s (docs/benchmarks.md,
// enrichment end to end). An operator may still set a limit per client.
const (
	DefaultKubeAPIQPS         = -1.0
	DefaultKubeAPIBurst       = 0
	DefaultEnrichmentAPIQPS   = -1.0
	DefaultEnrichmentAPIBurst = 0
	DefaultLogAPIQPS          = -1.0
	DefaultLogAPIBurst        = 0
)

// APIServerBookmarkInterval is how often kube-apiserver sends a bookmark on
// a watch that allows them, such as an informer's, when nothing else
// happens (k8s.io/apiserver's cacher, defaultBookmarkFrequency; not
// configurable). Only watches served from the API server's watch cache get
// them, and kube-apiserver keeps no watch cache for Events unless
// --watch-cache-sizes says so (DefaultWatchCacheSizes: events#0): an Events
// watch served straight from etcd gets no bookmarks.
const APIServerBookmarkInterval = time.Minute

// ReflectorMaxWatchTimeout is the longest an informer's watch lasts: the
// reflector asks for a timeout between 5 and 10 minutes (client-go's
// defaultMinWatchTimeout, randomised up to twice it), the API server ends the
// watch then, and the reflector opens the next one at once. It is the
// longest a healthy Events watch goes without activity when no Event happens
// and no bookmark comes.
const ReflectorMaxWatchTimeout = 10 * time.Minute

// DefaultEventWatchStallTimeout is how long the leader's Event watch may go
// without opening, an Event or a bookmark before its liveness check fails:
// the longest healthy idle gap (ReflectorMaxWatchTimeout, a quiet cluster
// whose API server sends no bookmarks for Events) plus two bookmark
// intervals for a slow re-open or a relist. Where the API server caches
// Events, bookmarks come every APIServerBookmarkInterval and three of them
// (3m) is enough.
const DefaultEventWatchStallTimeout = ReflectorMaxWatchTimeout + 2*APIServerBookmarkInterval

// BindAddressDisabled as --metrics-bind-address turns the endpoint off.
const BindAddressDisabled = "0"

// AllInterfaces is the bind address of port on every interface (":8081"),
// the form of the bind-address flags' defaults.
func AllInterfaces(port int) string { return net.JoinHostPort("", strconv.Itoa(port)) }
