package policy

// Rejection messages a user can hit (besides the generic bound and enum
// messages of apimachinery's field errors). docs/policies.md lists them all
// with examples; keep the two in step.
const (
	MsgSelectorsRequired = "at least one event selector is required"
	MsgSelectorWildcard  = "selector must set at least one of type, reason, involvedObjectKind, message or expression; " +
		"a selector with none of them would send every event to dot-ai"
	MsgSelectorNamespace = "a policy without spec.namespaceSelector only sees events of its own namespace %q, " +
		"so this selector could never match; remove it or move the policy"
	MsgMcpToolPattern             = "must start with a letter or digit and contain only letters, digits, '_' and '-'"
	MsgKindPattern                = "must be a Kind such as Pod or Deployment: letters and digits, starting with a letter"
	MsgNamespaceSelectorForbidden = "namespaceSelector is only allowed for policies in the cluster-policy namespaces %v; " +
		"a policy in namespace %q sees only its own namespace (ask the installation's admin to create a cluster-wide policy)"
	MsgEndpointNotAllowed = "endpoint is not in the installation's allowed endpoints (chart value mcp.allowedEndpoints), " +
		"so the installation's token is never sent to it: set spec.mcpAuthSecretRef to a Secret in this namespace holding a token for it"
	MsgNotANumber = "must be a number between 0 and 1"
	// A notification webhook URL is a credential: it lives in a Secret.
	MsgNotificationURLPlain = "a plain-text webhook URL is not accepted: a webhook URL is a credential; store it in a Secret " +
		"of this namespace and name it in webhookUrlSecretRef {name, key}"
	MsgNotificationSecretRequired = "name the Secret key holding the webhook URL (a Secret of this namespace)"
	// The guardrails name the chart value an installation's admin changes.
	MsgAutomaticModeForbidden = "mode automatic is only allowed for policies in the namespaces %v " +
		"(chart value guardrails.automaticModeNamespaces); a policy in namespace %q must use mode manual " +
		"(set it here or in the selector) unless the installation's admin adds the namespace there"
	MsgRiskAboveCap = "maxRiskLevel %s is above the highest allowed in namespace %q, %s (chart value %s); " +
		"lower it, or ask the installation's admin to raise that chart value"
)

// Warnings for settings that are legal but risky. They are returned to the
// client (kubectl prints them as "Warning: ...").
const (
	WarnAutomaticHighRisk = "spec.mode is automatic with maxRiskLevel high: dot-ai may execute high-risk remediations " +
		"without a human; consider maxRiskLevel low or medium"
	WarnAutomaticLowConfidence = "spec.mode is automatic with confidenceThreshold below 0.5: remediations may run on weak analyses"
	WarnAutomaticNoCooldown    = "spec.mode is automatic with rateLimiting.cooldownMinutes 0: every repeated event of an object " +
		"can trigger another remediation"
	// MsgExcludeOverride rejects an override in an exclude selector.
	MsgExcludeOverride            = "excludeSelectors only say which events to leave out; mode, confidenceThreshold and maxRiskLevel belong in eventSelectors"
	WarnSelectorAutomaticHighRisk = "spec.eventSelectors[%d] runs in automatic mode with maxRiskLevel high: dot-ai may execute " +
		"high-risk remediations without a human"
	WarnLargeLogLines = "spec.contextGathering.logLines is above %d: large log excerpts slow dot-ai's analysis and are " +
		"truncated at maxLogBytes anyway"
	WarnSelectorTypeOnly = "spec.eventSelectors[%d] selects by type only: every %s event in scope is sent to dot-ai, " +
		"which is subject only to rateLimiting"
	WarnSelectorNormalEvents = "spec.eventSelectors[%d] selects Normal events: these are routine and frequent; " +
		"consider type Warning"
	WarnContainerStatusReasonKind = "spec.eventSelectors[%d].reason %q is a container-status reason, which only matches " +
		"Warning events of Pods whose containers show it; involvedObjectKind %q can never match it"
	WarnContainerStatusReasonNormal = "spec.eventSelectors[%d].reason %q is a container-status reason, which only matches " +
		"Warning events of Pods; with type Normal it never matches"
	WarnKindLowercase = "spec.eventSelectors[%d].involvedObjectKind %q starts with a lower-case letter; kinds are " +
		"case-sensitive (Pod, Deployment), so it is unlikely to match"
	WarnPlainHTTPWithToken = "spec.mcpEndpoint uses plain http outside the cluster and loopback: the token in " +
		"mcpAuthSecretRef travels unencrypted; use https"
	// WarnClusterNamespaceOwnOnly helps policies ported from the upstream
	// controller, which watched every namespace (docs/migrating.md).
	WarnClusterNamespaceOwnOnly = "this policy sees only namespace %q; add namespaceSelector: {} to watch every namespace " +
		"as the upstream dot-ai controller did (docs/migrating.md)"
	WarnSuspended = "spec.suspend is true: events are not delivered while the policy is suspended and are not replayed later"
)

// Thresholds of the warnings: logLines above largeLogLines, and an automatic
// policy's confidenceThreshold below lowConfidence.
const (
	largeLogLines = 1000
	lowConfidence = 0.5
)
