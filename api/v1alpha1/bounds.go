package v1alpha1

// Bounds of the RemediationPolicy API, declared once. The kubebuilder markers
// on the types must be literals, so bounds_test.go checks that the generated
// CRD carries exactly these values; the Go checks (internal/policy) and the
// code that shortens text written to status use the constants. The Go mirror
// of the schema stays: it reports every error at once and serves callers that
// bypass the schema.
const (
	MinEventSelectors = 1
	MaxEventSelectors = 32
	// MaxExcludeSelectors bounds spec.excludeSelectors.
	MaxExcludeSelectors = 32

	MaxNamespaceSelectorLabels      = 32
	MaxNamespaceSelectorExpressions = 16
	MaxNamespaceSelectorValues      = 64
	MaxNamespaceSelectorKeyLength   = 317
	MaxNamespaceSelectorValueLength = 63

	MaxSelectorReasonLength    = 128
	MaxSelectorKindLength      = 63
	MaxSelectorNamespaceLength = 63
	// MaxSelectorMessageLength bounds the selector's message regex.
	MaxSelectorMessageLength = 1024
	MaxExpressionLength      = 4096

	MinConfidenceThreshold = 0.0
	MaxConfidenceThreshold = 1.0

	MinLogLines        = 1
	MaxLogLines        = 10000
	MinMaxLogBytes     = 1024
	MaxMaxLogBytes     = 10485760
	MinLookbackMinutes = 1
	MaxLookbackMinutes = 1440

	MinSecretRefLength     = 1
	MaxSecretRefNameLength = 253
	MaxSecretRefKeyLength  = 253

	// Recurrence thresholds (minOccurrences, occurrenceWindowSeconds);
	// MaxMinOccurrences keeps each threshold's window state small in the
	// checkpoint (docs/design/state.md).
	MinMinOccurrences          = 0
	MaxMinOccurrences          = 10
	MinOccurrenceWindowSeconds = 0
	MaxOccurrenceWindowSeconds = 86400

	MinEventsPerMinute = 1
	MaxEventsPerMinute = 10000
	MinCooldownMinutes = 0
	MaxCooldownMinutes = 1440

	MaxEndpointLength = 2048
	MaxMcpToolLength  = 63
	// McpToolPattern is the CRD's pattern for mcpTool.
	McpToolPattern = `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`

	MaxConditions = 8

	// MaxNotificationURLLength bounds the refused webhookUrl field (kept so
	// the refusal can say what to do instead).
	MaxNotificationURLLength   = 2048
	MaxNotificationFilterKinds = 3
)

// Lengths of the text fields of a RemediationOutcome: what the controller
// writes there is shortened to them (the apiserver counts maxLength in
// runes).
const (
	MaxOutcomeEventLength          = 317
	MaxOutcomeReasonLength         = 128
	MaxOutcomeInvolvedObjectLength = 320
	MaxOutcomeMcpStatusLength      = 64
	MaxOutcomeSessionIDLength      = 128
	MaxOutcomeRootCauseLength      = 1024
	MaxOutcomeMessageLength        = 1024
	MaxOutcomeRemediationLength    = 63
)

// MaxConditionMessageLength is the length the controller shortens a
// condition's message to. metav1.Condition allows far more (its schema says
// 32768); a short message keeps `kubectl describe` readable.
const MaxConditionMessageLength = 1024

// Lengths and counts of a Remediation record's fields (remediation_types.go): what the controller writes is
// shortened to them.
const (
	MaxRemediationMessageLength   = 1024
	MaxRemediationRootCauseLength = 2048
	MaxRemediationFactors         = 10
	MaxRemediationFactorLength    = 512
	MaxRemediationActions         = 20
	MaxRemediationTextLength      = 1024
	MaxRemediationCommandLength   = 2048
	MaxRemediationResults         = 20
	MaxRemediationOutputLength    = 2048
	MaxApprovalReasonLength       = 512
	MaxApprovalUserLength         = 512
	MaxRemediationSealLength      = 128
)
