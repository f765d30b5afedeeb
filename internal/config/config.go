// Package config holds the installation's settings: what the chart's values
// pass to the binary as flags (with DOT_AI_* environment fallbacks). The
// webhook, watcher and MCP client read them from here, never from constants.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/endpoint"
)

// PolicyDefaults are filled into a RemediationPolicy by the defaulting webhook
// for every setting the user left empty (the chart's policyDefaults block).
type PolicyDefaults struct {
	Mode                v1alpha1.RemediationMode `validate:"oneof=manual automatic"`
	ConfidenceThreshold float64                  `validate:"gte=0,lte=1"`
	MaxRiskLevel        v1alpha1.RiskLevel       `validate:"oneof=low medium high"`
	McpTool             string                   `validate:"required,max=63"`
	EventsPerMinute     int32                    `validate:"gte=1,lte=10000"`
	CooldownMinutes     int32                    `validate:"gte=0,lte=1440"`
	MinOccurrences      int32                    `validate:"gte=0,lte=10"`
	// OccurrenceWindowSeconds must be positive: it is what a policy setting
	// only minOccurrences counts in.
	OccurrenceWindowSeconds int32 `validate:"gte=1,lte=86400"`
	IncludeLogs             bool
	LogLines                int32 `validate:"gte=1,lte=10000"`
	MaxLogBytes             int64 `validate:"gte=1024,lte=10485760"`
	IncludePreviousLogs     bool
	IncludeRelatedEvents    bool
	LookbackMinutes         int32 `validate:"gte=1,lte=1440"`
	IncludeResourceSpec     bool
	IncludeMetrics          bool
	// NotifyOnStart and NotifyOnComplete fill each notification
	// destination's settings of the same names.
	NotifyOnStart    bool
	NotifyOnComplete bool
}

// Settings are the installation-wide settings of one controller process.
type Settings struct {
	// Namespace is the controller's own namespace (the Helm release's).
	Namespace string `validate:"required"`
	// ServiceAccount is the controller's own ServiceAccount (in Namespace).
	// Its user, ControllerUsername, is the only one that may create
	// Remediation records, write their status or change their recorded spec
	// (docs/remediations.md). Empty matches no user: nobody may.
	ServiceAccount string

	// MCPEndpoint is the installation's default remediate URL, used by
	// policies whose mcpEndpoint is empty. Resolved at delivery time.
	MCPEndpoint string `validate:"omitempty,url"`
	// MCPAllowedEndpoints are the endpoints (besides MCPEndpoint) that may
	// receive the installation's token and that policies may name. An entry
	// ending in "*" is a prefix. Empty means: only MCPEndpoint is allowed
	// with the installation token; other endpoints need their own Secret.
	MCPAllowedEndpoints []string
	// MCPTokenFile holds the installation's bearer token; re-read on every
	// delivery so rotation needs no restart.
	MCPTokenFile string
	// MCPCAFile is an optional PEM bundle trusted for https endpoints, in
	// addition to the system roots.
	MCPCAFile string
	// MCPTimeout bounds one remediate call (dot-ai analyses take minutes).
	MCPTimeout time.Duration `validate:"gte=1000000000"`
	// MCPOutageHold is how long an event whose call found the endpoint
	// unreachable stays queued, retried as the circuit breaker allows, before
	// it counts as failed. Only calls that are safe to repeat are held (decision
	// 5 (docs/design/decisions.md#d5)); 0 fails them after the client's retries.
	MCPOutageHold time.Duration `validate:"gte=0,lte=86400000000000"`
	// MCPBreakerCooldown is how long an endpoint's circuit breaker stays
	// open after repeated unreachable attempts before one probe may pass.
	MCPBreakerCooldown time.Duration `validate:"gte=1000000000,lte=3600000000000"`

	// ClusterPolicyNamespaces are the namespaces whose policies may use
	// namespaceSelector. Empty means only Namespace.
	ClusterPolicyNamespaces []string

	// Concurrency is the number of deliveries in flight at once.
	Concurrency int `validate:"gte=1,lte=10000"`
	// QueueSize bounds the events waiting for a delivery slot.
	QueueSize int `validate:"gte=1,lte=1000000"`
	// DrainTimeout is how long shutdown waits for in-flight deliveries.
	DrainTimeout time.Duration `validate:"gte=0"`

	// Defaults are the policy defaults.
	Defaults PolicyDefaults

	// Guardrails bound automatic mode, risk and the analysis budget.
	Guardrails Guardrails

	// Notifications tune notification delivery (the chart's notifications
	// block).
	Notifications Notifications

	// Remediations bound the Remediation records (the chart's remediations
	// block).
	Remediations Remediations
}

// ClusterPolicyNamespaceList is where policies may use namespaceSelector:
// the configured list, else the installation's own namespace.
func (s *Settings) ClusterPolicyNamespaceList() []string {
	if len(s.ClusterPolicyNamespaces) == 0 {
		return []string{s.Namespace}
	}
	return s.ClusterPolicyNamespaces
}

// IsClusterPolicyNamespace reports whether policies in ns may use
// namespaceSelector.
func (s *Settings) IsClusterPolicyNamespace(ns string) bool {
	return slices.Contains(s.ClusterPolicyNamespaceList(), ns)
}

// IsAllowedEndpoint reports whether endpoint may receive the installation's
// token: it lies under the installation's endpoint or an allow-list entry,
// compared as parsed URLs (decision 19 (docs/design/decisions.md#d19)).
// Empty means the installation's endpoint. Entries that do not parse allow
// nothing; Validate refuses them at start.
func (s *Settings) IsAllowedEndpoint(raw string) bool {
	if raw == "" {
		return true
	}
	return s.allowList().Allows(raw)
}

func (s *Settings) allowList() endpoint.AllowList {
	list := make(endpoint.AllowList, 0, len(s.MCPAllowedEndpoints)+1)
	for _, e := range append([]string{s.MCPEndpoint}, s.MCPAllowedEndpoints...) {
		if r, err := endpoint.ParseRule(e); err == nil {
			list = append(list, r)
		}
	}
	return list
}

// DefaultServiceAccount is the chart's ServiceAccount name for a release
// named dot-ai-controller; the chart always passes its own.
const DefaultServiceAccount = "dot-ai-controller"

// ControllerUsername is the user the API server authenticates the
// controller's ServiceAccount as.
func (s *Settings) ControllerUsername() string {
	return "system:serviceaccount:" + s.Namespace + ":" + s.ServiceAccount
}

// EffectiveEndpoint resolves a policy's mcpEndpoint: empty means the
// installation's default.
func (s *Settings) EffectiveEndpoint(policyEndpoint string) string {
	if policyEndpoint != "" {
		return policyEndpoint
	}
	return s.MCPEndpoint
}

// Default returns the settings a bare installation runs with; they match the
// chart's default values.
func Default() Settings {
	return Settings{
		Namespace:          "dot-ai",
		ServiceAccount:     DefaultServiceAccount,
		MCPTimeout:         5 * time.Minute,
		MCPOutageHold:      30 * time.Minute,
		MCPBreakerCooldown: 30 * time.Second,
		Concurrency:        128,
		QueueSize:          10000,
		DrainTimeout:       30 * time.Second,
		Defaults: PolicyDefaults{
			Mode:                    DefaultMode,
			ConfidenceThreshold:     DefaultConfidenceThreshold,
			MaxRiskLevel:            DefaultMaxRiskLevel,
			McpTool:                 DefaultMcpTool,
			EventsPerMinute:         DefaultEventsPerMinute,
			CooldownMinutes:         DefaultCooldownMinutes,
			MinOccurrences:          DefaultMinOccurrences,
			OccurrenceWindowSeconds: DefaultOccurrenceWindowSeconds,
			IncludeLogs:             DefaultIncludeLogs,
			LogLines:                DefaultLogLines,
			MaxLogBytes:             DefaultMaxLogBytes,
			IncludePreviousLogs:     DefaultIncludePreviousLogs,
			IncludeRelatedEvents:    DefaultIncludeRelatedEvents,
			LookbackMinutes:         DefaultLookbackMinutes,
			IncludeResourceSpec:     DefaultIncludeResourceSpec,
			IncludeMetrics:          DefaultIncludeMetrics,
			NotifyOnStart:           DefaultNotifyOnStart,
			NotifyOnComplete:        DefaultNotifyOnComplete,
		},
		Guardrails: Guardrails{
			MaxRiskLevel:          DefaultMaxRiskLevelCap,
			CallsPerHour:          DefaultCallsPerHour,
			NamespaceCallsPerHour: DefaultNamespaceCallsPerHour,
		},
		Notifications: DefaultNotifications(),
		Remediations:  DefaultRemediations(),
	}
}

// BindFlags registers the settings' flags on fs, with s's current values as
// defaults.
func (s *Settings) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.Namespace, FlagNamespace, s.Namespace, "Namespace the controller runs in (the Helm release namespace).")
	fs.StringVar(&s.ServiceAccount, FlagServiceAccount, s.ServiceAccount, "Name of the controller's own ServiceAccount in --namespace; only its user may create Remediation records, write their status or change their recorded spec.")
	fs.StringVar(&s.MCPEndpoint, FlagMCPEndpoint, s.MCPEndpoint, "Default dot-ai remediate URL for policies without mcpEndpoint.")
	listFlag(fs, &s.MCPAllowedEndpoints, FlagMCPAllowedEndpoints, "Comma-separated endpoints that may receive the installation token: scheme, host and port exact, the path a prefix on a / boundary (a trailing /* means the same prefix).")
	fs.StringVar(&s.MCPTokenFile, FlagMCPTokenFile, s.MCPTokenFile, "File holding the installation's bearer token for the MCP endpoint.")
	fs.StringVar(&s.MCPCAFile, FlagMCPCAFile, s.MCPCAFile, "PEM bundle of extra CAs trusted for https MCP endpoints.")
	fs.DurationVar(&s.MCPTimeout, FlagMCPTimeout, s.MCPTimeout, "Upper bound of one remediate call.")
	fs.DurationVar(&s.MCPBreakerCooldown, FlagMCPBreakerCooldown, s.MCPBreakerCooldown, "How long an endpoint's circuit breaker stays open before one probe call may pass.")
	fs.DurationVar(&s.MCPOutageHold, FlagMCPOutageHold, s.MCPOutageHold, "How long an event stays queued while its MCP endpoint is unreachable before it counts as failed (0: fail after the client's retries).")
	listFlag(fs, &s.ClusterPolicyNamespaces, FlagClusterPolicyNamespaces, "Comma-separated namespaces whose policies may use namespaceSelector (default: --namespace).")
	fs.IntVar(&s.Concurrency, FlagConcurrency, s.Concurrency, "Deliveries in flight at once.")
	fs.IntVar(&s.QueueSize, FlagQueueSize, s.QueueSize, "Events waiting for a delivery slot before new ones are dropped.")
	fs.DurationVar(&s.DrainTimeout, FlagDrainTimeout, s.DrainTimeout, "How long shutdown waits for in-flight deliveries.")

	d := &s.Defaults
	fs.Func(FlagDefaultMode, "Default policy mode (manual|automatic).", func(v string) error {
		d.Mode = v1alpha1.RemediationMode(v)
		return nil
	})
	fs.Float64Var(&d.ConfidenceThreshold, FlagDefaultConfidenceThreshold, d.ConfidenceThreshold, "Default confidenceThreshold (0-1).")
	fs.Func(FlagDefaultMaxRiskLevel, "Default maxRiskLevel (low|medium|high).", func(v string) error {
		d.MaxRiskLevel = v1alpha1.RiskLevel(v)
		return nil
	})
	fs.StringVar(&d.McpTool, FlagDefaultMCPTool, d.McpTool, "Default mcpTool.")
	int32Flag(fs, &d.EventsPerMinute, FlagDefaultEventsPerMinute, "Default rateLimiting.eventsPerMinute.")
	int32Flag(fs, &d.CooldownMinutes, FlagDefaultCooldownMinutes, "Default rateLimiting.cooldownMinutes.")
	int32Flag(fs, &d.MinOccurrences, FlagDefaultMinOccurrences, "Default minOccurrences (0: every occurrence is delivered).")
	int32Flag(fs, &d.OccurrenceWindowSeconds, FlagDefaultOccurrenceWindowSeconds, "Default occurrenceWindowSeconds.")
	fs.BoolVar(&d.IncludeLogs, FlagDefaultIncludeLogs, d.IncludeLogs, "Default contextGathering.includeLogs.")
	int32Flag(fs, &d.LogLines, FlagDefaultLogLines, "Default contextGathering.logLines.")
	fs.Int64Var(&d.MaxLogBytes, FlagDefaultMaxLogBytes, d.MaxLogBytes, "Default contextGathering.maxLogBytes.")
	fs.BoolVar(&d.IncludePreviousLogs, FlagDefaultIncludePreviousLogs, d.IncludePreviousLogs, "Default contextGathering.includePreviousLogs.")
	fs.BoolVar(&d.IncludeRelatedEvents, FlagDefaultIncludeRelatedEvents, d.IncludeRelatedEvents, "Default contextGathering.includeRelatedEvents.")
	int32Flag(fs, &d.LookbackMinutes, FlagDefaultLookbackMinutes, "Default contextGathering.lookbackMinutes.")
	fs.BoolVar(&d.IncludeResourceSpec, FlagDefaultIncludeResourceSpec, d.IncludeResourceSpec, "Default contextGathering.includeResourceSpec.")
	fs.BoolVar(&d.IncludeMetrics, FlagDefaultIncludeMetrics, d.IncludeMetrics, "Default contextGathering.includeMetrics.")
	fs.BoolVar(&d.NotifyOnStart, FlagDefaultNotifyOnStart, d.NotifyOnStart, "Default notifications.*.notifyOnStart.")
	fs.BoolVar(&d.NotifyOnComplete, FlagDefaultNotifyOnComplete, d.NotifyOnComplete, "Default notifications.*.notifyOnComplete.")

	s.Guardrails.bindFlags(fs)
	s.Notifications.bindFlags(fs)
	s.Remediations.bindFlags(fs)
}

// ApplyEnv sets every flag of fs that was not given on the command line from
// the environment variable DOT_AI_<FLAG_NAME> (upper case, '-' as '_'), so
// flags win over the environment. It must run after fs.Parse.
func ApplyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := EnvName(f.Name)
		if v, ok := lookup(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid value %q for %s: %w", v, name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// EnvName is the environment variable that backs a flag.
func EnvName(flagName string) string {
	return "DOT_AI_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

var validate = validator.New(validator.WithRequiredStructEnabled())

// Validate checks the settings and returns every problem at once, naming
// flags the way a user passes them.
func (s *Settings) Validate() error {
	var errs []error
	if err := validate.Struct(s); err != nil {
		if verrs, ok := errors.AsType[validator.ValidationErrors](err); ok {
			for _, fe := range verrs {
				errs = append(errs, fmt.Errorf("setting %s=%v fails rule %q", fe.Namespace(), fe.Value(), fe.ActualTag()))
			}
		} else {
			errs = append(errs, err)
		}
	}
	if s.MCPEndpoint != "" {
		if err := CheckEndpointURL(s.MCPEndpoint); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", FlagMCPEndpoint, err))
		}
	}
	// Entries are named by index: an endpoint URL may carry a credential.
	if _, err := endpoint.ParseAllowList(s.MCPAllowedEndpoints); err != nil {
		errs = append(errs, fmt.Errorf("--%s: %w", FlagMCPAllowedEndpoints, err))
	}
	if _, err := endpoint.ParseAllowList(s.Notifications.AllowedURLs); err != nil {
		errs = append(errs, fmt.Errorf("--%s: %w", FlagNotificationAllowedURLs, err))
	}
	if s.MCPCAFile != "" {
		if _, err := os.Stat(s.MCPCAFile); err != nil {
			errs = append(errs, fmt.Errorf("--mcp-ca-file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// CheckEndpointURL checks an MCP endpoint: an absolute http or https URL
// with a host, without user info, fragment, dot segments, whitespace or
// control characters (endpoint.Parse).
func CheckEndpointURL(raw string) error {
	_, err := endpoint.Parse(raw)
	return err
}

// listFlag registers a comma-separated list flag; blanks are dropped.
func listFlag(fs *flag.FlagSet, p *[]string, name, usage string) {
	fs.Func(name, usage, func(v string) error {
		*p = splitList(v)
		return nil
	})
}

func splitList(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func int32Flag(fs *flag.FlagSet, p *int32, name, usage string) {
	fs.Func(name, usage+" (default "+strconv.Itoa(int(*p))+")", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return err
		}
		*p = int32(n)
		return nil
	})
}
