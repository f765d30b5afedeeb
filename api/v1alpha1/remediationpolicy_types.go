package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Bound markers (MaxLength, Minimum, MaxItems, Pattern, ...) must be literals:
// each one equals a constant in bounds.go, which the Go code uses, and
// bounds_test.go checks the generated CRD against those constants.

// EventType is the type of a Kubernetes Event.
// +kubebuilder:validation:Enum=Normal;Warning
type EventType string

// The event types a selector can match.
const (
	EventTypeNormal  EventType = "Normal"
	EventTypeWarning EventType = "Warning"
)

// RemediationMode says whether dot-ai only analyses an issue (manual) or also
// executes the remediation it finds (automatic).
// +kubebuilder:validation:Enum=manual;automatic
type RemediationMode string

// The remediation modes.
const (
	ModeManual    RemediationMode = "manual"
	ModeAutomatic RemediationMode = "automatic"
)

// RiskLevel is the highest risk of remediation actions dot-ai may execute in
// automatic mode.
// +kubebuilder:validation:Enum=low;medium;high
type RiskLevel string

// The risk levels, lowest first.
const (
	RiskLow    RiskLevel = "low"
	RiskMedium RiskLevel = "medium"
	RiskHigh   RiskLevel = "high"
)

// Rank orders the risk levels: 1 for low up to 3 for high, 0 for any other
// value.
func (l RiskLevel) Rank() int {
	switch l {
	case RiskLow:
		return 1
	case RiskMedium:
		return 2
	case RiskHigh:
		return 3
	}
	return 0
}

// EventSelector selects Kubernetes Events. Every field is optional and an
// empty field matches anything; a selector matches an event when all of its
// non-empty fields match.
type EventSelector struct {
	// type matches the event type (Normal or Warning).
	// +optional
	Type EventType `json:"type,omitempty"`

	// reason matches the event reason exactly, for example BackOff,
	// FailedScheduling or Failed. A container-status reason (CrashLoopBackOff,
	// OOMKilled, ImagePullBackOff, ...) also matches a Warning event of a Pod
	// whose container status currently shows that reason.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason,omitempty"`

	// involvedObjectKind matches the kind of the object the event is about,
	// for example Pod or Deployment.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	InvolvedObjectKind string `json:"involvedObjectKind,omitempty"`

	// namespace matches the namespace of the event. A policy without
	// namespaceSelector only ever sees events of its own namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// message is an RE2 regular expression matched against the event message.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// expression is a CEL expression returning bool, evaluated with one
	// variable, event, shaped like a core/v1 Event (event.reason,
	// event.message, event.involvedObject.kind, event.count, ...).
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Expression string `json:"expression,omitempty"`

	// mode overrides the policy's mode for events this selector matches.
	// +optional
	Mode RemediationMode `json:"mode,omitempty"`

	// confidenceThreshold overrides the policy's confidenceThreshold for
	// events this selector matches.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	ConfidenceThreshold *float64 `json:"confidenceThreshold,omitempty"`

	// maxRiskLevel overrides the policy's maxRiskLevel for events this
	// selector matches.
	// +optional
	MaxRiskLevel RiskLevel `json:"maxRiskLevel,omitempty"`
	// minOccurrences overrides the policy's minOccurrences for events this
	// selector matches.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	MinOccurrences *int32 `json:"minOccurrences,omitempty"`

	// occurrenceWindowSeconds overrides the policy's occurrenceWindowSeconds
	// for events this selector matches.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	OccurrenceWindowSeconds *int32 `json:"occurrenceWindowSeconds,omitempty"`
}

// ContextGathering says what the controller collects about an event before
// sending it to dot-ai.
type ContextGathering struct {
	// includeLogs adds the last logLines lines of the involved Pod's containers.
	// +optional
	IncludeLogs *bool `json:"includeLogs,omitempty"`

	// logLines is how many log lines are read per container.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	LogLines *int32 `json:"logLines,omitempty"`

	// maxLogBytes caps the log bytes gathered for one event, over all
	// containers.
	// +optional
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=10485760
	MaxLogBytes *int64 `json:"maxLogBytes,omitempty"`

	// includePreviousLogs adds the logs of the previous container instance
	// when a container restarted, as in a crash loop.
	// +optional
	IncludePreviousLogs *bool `json:"includePreviousLogs,omitempty"`

	// includeRelatedEvents adds recent events of the involved object, its
	// owners and its children.
	// +optional
	IncludeRelatedEvents *bool `json:"includeRelatedEvents,omitempty"`

	// lookbackMinutes is how far back related events are gathered.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1440
	LookbackMinutes *int32 `json:"lookbackMinutes,omitempty"`

	// includeResourceSpec adds the involved object and its owner chain, with
	// managedFields and secret values removed.
	// +optional
	IncludeResourceSpec *bool `json:"includeResourceSpec,omitempty"`

	// includeMetrics adds the Pod's current CPU and memory usage from
	// metrics.k8s.io when that API is served.
	// +optional
	IncludeMetrics *bool `json:"includeMetrics,omitempty"`
}

// SecretKeyReference names a key of a Secret in the policy's namespace.
type SecretKeyReference struct {
	// name is the name of the Secret, in the policy's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// key is the key in the Secret's data that holds the token.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// RateLimiting bounds how often a policy calls dot-ai.
type RateLimiting struct {
	// eventsPerMinute is the most events per minute the policy delivers
	// (token bucket); events above it are counted as rate-limited.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	EventsPerMinute *int32 `json:"eventsPerMinute,omitempty"`

	// cooldownMinutes is how long after a delivery further events of the same
	// object (Pods are keyed by their owning workload) and reason are held
	// back. 0 disables the cooldown.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1440
	CooldownMinutes *int32 `json:"cooldownMinutes,omitempty"`
}

// RemediationPolicySpec selects Kubernetes Events and says how dot-ai is
// asked to remediate them.
type RemediationPolicySpec struct {
	// eventSelectors select the events this policy acts on. An event matching
	// any selector is selected; the first matching selector's overrides apply.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	EventSelectors []EventSelector `json:"eventSelectors,omitempty"`

	// excludeSelectors are matched before eventSelectors: an event matching
	// any of them is not this policy's (neither delivered nor counted), for
	// example Unhealthy events during rollouts or a noisy Job. They have the
	// shape of eventSelectors, but only the matching fields (type, reason,
	// involvedObjectKind, namespace, message, expression) may be set.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	ExcludeSelectors []EventSelector `json:"excludeSelectors,omitempty"`

	// namespaceSelector widens the policy to events of every namespace whose
	// labels match. Only policies in the installation's cluster-policy
	// namespaces may set it; without it a policy sees only its own namespace.
	// It has the shape of a metav1.LabelSelector, with bounded sizes.
	// +optional
	NamespaceSelector *NamespaceSelector `json:"namespaceSelector,omitempty"`

	// contextGathering says what is collected about an event.
	// +optional
	ContextGathering *ContextGathering `json:"contextGathering,omitempty"`

	// mcpEndpoint is the full URL of the dot-ai remediate tool, for example
	// http://dot-ai.dot-ai.svc:3456/api/v1/tools/remediate. Empty means the
	// installation's default endpoint, resolved at delivery time.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	McpEndpoint string `json:"mcpEndpoint,omitempty"`

	// mcpTool is the name of the dot-ai tool to call.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`
	McpTool string `json:"mcpTool,omitempty"`

	// mcpAuthSecretRef names the Secret key holding the bearer token for
	// mcpEndpoint. Empty means the installation's token, which is only sent
	// to the installation's allowed endpoints.
	// +optional
	McpAuthSecretRef *SecretKeyReference `json:"mcpAuthSecretRef,omitempty"`

	// mode is manual (dot-ai analyses and proposes) or automatic (dot-ai also
	// executes remediations within confidenceThreshold and maxRiskLevel).
	// +optional
	Mode RemediationMode `json:"mode,omitempty"`

	// confidenceThreshold is the lowest analysis confidence, from 0 to 1, at
	// which automatic mode executes a remediation.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	ConfidenceThreshold *float64 `json:"confidenceThreshold,omitempty"`

	// maxRiskLevel is the highest risk automatic mode may execute.
	// +optional
	MaxRiskLevel RiskLevel `json:"maxRiskLevel,omitempty"`

	// rateLimiting bounds how often this policy calls dot-ai.
	// +optional
	RateLimiting *RateLimiting `json:"rateLimiting,omitempty"`

	// minOccurrences is how many occurrences of the same problem (same
	// object, owners counted as one as for cooldowns, same reason and
	// message) must happen within occurrenceWindowSeconds before one is
	// delivered; the ones before end as belowThreshold. 0 or 1: every
	// occurrence is delivered.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	MinOccurrences *int32 `json:"minOccurrences,omitempty"`

	// occurrenceWindowSeconds is the window minOccurrences counts in.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	OccurrenceWindowSeconds *int32 `json:"occurrenceWindowSeconds,omitempty"`

	// notifications sends a message to chat or an HTTP receiver when an
	// outcome is recorded (and, with notifyOnStart, when a call starts).
	// Webhook URLs are credentials: they are only read from Secrets.
	// +optional
	Notifications *Notifications `json:"notifications,omitempty"`

	// suspend stops the policy from acting on events without deleting it.
	// Events that occur while suspended are not delivered later.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`

	// dryRun selects, rate-limits, enriches and builds the request exactly
	// as for real, but sends nothing: each occurrence ends as DryRun, with
	// the issue text that would have been sent in recentOutcomes and an
	// Event. Turning it off applies from the next event. Like a policy with
	// its own mcpEndpoint, it shows what it gathers, so its author must be
	// allowed to read that.
	// +optional
	DryRun *bool `json:"dryRun,omitempty"`
}

// Notifications are the destinations of a policy's notifications, at most
// one of each kind.
type Notifications struct {
	// slack posts Block Kit messages to a Slack incoming webhook
	// (https://hooks.slack.com/...).
	// +optional
	Slack *NotificationDestination `json:"slack,omitempty"`

	// googleChat posts cards to a Google Chat space webhook
	// (https://chat.googleapis.com/...).
	// +optional
	GoogleChat *NotificationDestination `json:"googleChat,omitempty"`

	// webhook posts CloudEvents 1.0 (structured JSON) to an HTTP receiver in
	// the installation's allow-list (chart value notifications.allowedURLs).
	// +optional
	Webhook *NotificationDestination `json:"webhook,omitempty"`
}

// NotificationDestination is one place notifications go to. A plain
// webhookUrl is refused by the validating webhook (and the watcher marks such
// a policy InvalidSpec); there is no CEL rule for it, because any CEL rule
// in the schema adds a confusing "some validation rules were not checked"
// cause to every other schema error.
type NotificationDestination struct {
	// webhookUrl is refused: it exists so that a policy written for the
	// earlier controller fails with a clear message instead of losing the
	// field. Use webhookUrlSecretRef.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	WebhookURL string `json:"webhookUrl,omitempty"`

	// webhookUrlSecretRef names the Secret key, in the policy's namespace,
	// that holds the webhook URL. It is read at send time, uncached.
	// +optional
	WebhookURLSecretRef *SecretKeyReference `json:"webhookUrlSecretRef,omitempty"`

	// notifyOnStart sends a message when a call to dot-ai starts.
	// +optional
	NotifyOnStart *bool `json:"notifyOnStart,omitempty"`

	// notifyOnComplete sends a message when an outcome is recorded.
	// +optional
	NotifyOnComplete *bool `json:"notifyOnComplete,omitempty"`

	// filter narrows which outcomes are notified; empty notifies all.
	// +optional
	Filter *NotificationFilter `json:"filter,omitempty"`
}

// NotificationOutcomeKind groups outcomes for a notification filter.
// +kubebuilder:validation:Enum=analyses;remediations;failures
type NotificationOutcomeKind string

// The outcome kinds a filter can select.
const (
	// NotifyAnalyses: dot-ai analysed and executed nothing.
	NotifyAnalyses NotificationOutcomeKind = "analyses"
	// NotifyRemediations: dot-ai executed a remediation that succeeded.
	NotifyRemediations NotificationOutcomeKind = "remediations"
	// NotifyFailures: delivery or remediation failed, or was interrupted.
	NotifyFailures NotificationOutcomeKind = "failures"
)

// NotificationFilter narrows the notified outcomes.
type NotificationFilter struct {
	// outcomes lists the kinds of outcome notified; empty means all.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=3
	Outcomes []NotificationOutcomeKind `json:"outcomes,omitempty"`

	// minRisk skips outcomes whose proposed remediation's risk is below it;
	// outcomes without a risk (failures) always pass.
	// +optional
	MinRisk RiskLevel `json:"minRisk,omitempty"`
}

// OutcomeResult is how one delivery of an event to dot-ai ended.
// +kubebuilder:validation:Enum=AnalysisCompleted;RemediationSucceeded;RemediationFailed;DeliveryFailed;BudgetExceeded;Interrupted;DryRun;ProposalCapReached
type OutcomeResult string

const (
	// OutcomeAnalysisCompleted means dot-ai analysed the issue and executed
	// nothing (manual mode, or automatic mode below its thresholds).
	OutcomeAnalysisCompleted OutcomeResult = "AnalysisCompleted"
	// OutcomeRemediationSucceeded means automatic mode executed a remediation
	// that succeeded.
	OutcomeRemediationSucceeded OutcomeResult = "RemediationSucceeded"
	// OutcomeRemediationFailed means dot-ai executed a remediation that failed
	// or only partly resolved the issue.
	OutcomeRemediationFailed OutcomeResult = "RemediationFailed"
	// OutcomeDeliveryFailed means the call to dot-ai failed after retries.
	OutcomeDeliveryFailed OutcomeResult = "DeliveryFailed"
	// OutcomeBudgetExceeded means the installation's analysis budget (chart
	// values guardrails.budget) was spent: no call was made.
	OutcomeBudgetExceeded OutcomeResult = "BudgetExceeded"
	// OutcomeInterrupted means an automatic-mode call may have been sent but
	// its answer never arrived (the controller stopped while waiting). It is
	// never sent again; check the remediation in dot-ai.
	OutcomeInterrupted OutcomeResult = "Interrupted"
	// OutcomeDryRun means the policy is a dry run: the request was built and
	// not sent.
	OutcomeDryRun OutcomeResult = "DryRun"
	// OutcomeProposalCapReached means the event's namespace already held the
	// installation's maximum of open proposals (Remediation records awaiting a
	// decision): no call was made and no record written.
	OutcomeProposalCapReached OutcomeResult = "ProposalCapReached"
)

// RemediationOutcome records one delivery of an event to dot-ai.
type RemediationOutcome struct {
	// event is the namespace/name of the Kubernetes Event.
	// +required
	// +kubebuilder:validation:MaxLength=317
	Event string `json:"event"`

	// reason is the reason of the Kubernetes Event.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason,omitempty"`

	// involvedObject is the Kind/name of the object the event is about.
	// +optional
	// +kubebuilder:validation:MaxLength=320
	InvolvedObject string `json:"involvedObject,omitempty"`

	// time is when the delivery ended.
	// +required
	Time metav1.Time `json:"time"`

	// result is how the delivery ended.
	// +required
	Result OutcomeResult `json:"result,omitempty"`

	// mcpStatus is the status dot-ai reported (data.result.status), or the
	// error code of a failed call.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	McpStatus string `json:"mcpStatus,omitempty"`

	// sessionId is dot-ai's remediation session, usable to continue the
	// remediation from dot-ai's own tools.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	SessionID string `json:"sessionId,omitempty"`

	// rootCause is dot-ai's root-cause analysis, shortened.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	RootCause string `json:"rootCause,omitempty"`

	// message explains the outcome, shortened.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// remediation is the name of the Remediation record of this occurrence,
	// in the Event's namespace (kubectl get rem -n <namespace> <name>).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Remediation string `json:"remediation,omitempty"`
}

// MaxRecentOutcomes bounds status.recentOutcomes.
const MaxRecentOutcomes = 10

// OutcomeCounts counts the outcomes of a policy's matching event
// occurrences: every occurrence ends in exactly one, so totalEventsProcessed
// is the sum of the others. The controller keeps them in its checkpoint,
// written in the same write as the marks of handled occurrences, and copies
// them to the policy's status.
type OutcomeCounts struct {
	// totalEventsProcessed counts matching event occurrences that reached an
	// outcome.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TotalEventsProcessed int64 `json:"totalEventsProcessed,omitempty"`

	// analysesCompleted counts deliveries where dot-ai analysed the issue and
	// executed nothing (manual mode, or automatic mode below its thresholds).
	// +optional
	// +kubebuilder:validation:Minimum=0
	AnalysesCompleted int64 `json:"analysesCompleted,omitempty"`

	// successfulRemediations counts remediations dot-ai executed successfully.
	// +optional
	// +kubebuilder:validation:Minimum=0
	SuccessfulRemediations int64 `json:"successfulRemediations,omitempty"`

	// failedRemediations counts deliveries that failed after retries and
	// remediations that failed or only partly resolved the issue.
	// +optional
	// +kubebuilder:validation:Minimum=0
	FailedRemediations int64 `json:"failedRemediations,omitempty"`

	// rateLimitedEvents counts events held back by eventsPerMinute.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RateLimitedEvents int64 `json:"rateLimitedEvents,omitempty"`

	// cooledDownEvents counts events held back by cooldownMinutes.
	// +optional
	// +kubebuilder:validation:Minimum=0
	CooledDownEvents int64 `json:"cooledDownEvents,omitempty"`

	// droppedEvents counts events dropped because the delivery queue was full.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DroppedEvents int64 `json:"droppedEvents,omitempty"`

	// skippedEvents counts events skipped because they were already handled
	// or their object no longer exists.
	// +optional
	// +kubebuilder:validation:Minimum=0
	SkippedEvents int64 `json:"skippedEvents,omitempty"`

	// budgetExceededEvents counts events not sent to dot-ai because the
	// installation's analysis budget for the hour was spent.
	// +optional
	// +kubebuilder:validation:Minimum=0
	BudgetExceededEvents int64 `json:"budgetExceededEvents,omitempty"`

	// interruptedRemediations counts automatic-mode calls whose outcome is
	// unknown because the controller stopped while waiting for the answer.
	// They are never sent again (decision 17 (docs/design/decisions.md#d17)).
	// +optional
	// +kubebuilder:validation:Minimum=0
	InterruptedRemediations int64 `json:"interruptedRemediations,omitempty"`

	// dryRunEvents counts occurrences a dryRun policy built a request for
	// and did not send.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DryRunEvents int64 `json:"dryRunEvents,omitempty"`

	// belowThresholdEvents counts occurrences held back because their
	// problem had not recurred minOccurrences times within
	// occurrenceWindowSeconds yet.
	// +optional
	// +kubebuilder:validation:Minimum=0
	BelowThresholdEvents int64 `json:"belowThresholdEvents,omitempty"`

	// proposalCapEvents counts occurrences not sent because their namespace
	// already held the installation's maximum of open proposals
	// (remediations.maxOpenPerNamespace).
	// +optional
	// +kubebuilder:validation:Minimum=0
	ProposalCapEvents int64 `json:"proposalCapEvents,omitempty"`
}

// RemediationPolicyStatus is the observed state of a RemediationPolicy. Every
// matching event occurrence ends in exactly one counted outcome, so
// totalEventsProcessed equals the sum of analysesCompleted,
// successfulRemediations, failedRemediations, rateLimitedEvents,
// cooledDownEvents, droppedEvents, skippedEvents, budgetExceededEvents,
// interruptedRemediations, dryRunEvents, belowThresholdEvents and
// proposalCapEvents.
type RemediationPolicyStatus struct {
	// conditions describe the policy's state. Ready is True when the policy
	// is valid and its events are being delivered. Delivering is True after a
	// delivery reached dot-ai and False after several deliveries in a row
	// failed, with the last error; it is absent until the first delivery.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the policy generation the controller acts on.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// effectiveMcpEndpoint is the endpoint events are delivered to, after
	// resolving an empty mcpEndpoint to the installation's default.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	EffectiveMcpEndpoint string `json:"effectiveMcpEndpoint,omitempty"`

	// lastProcessedEvent is when the policy last processed an event.
	// +optional
	LastProcessedEvent *metav1.Time `json:"lastProcessedEvent,omitempty"`

	// The outcome counters, derived from the controller's checkpoint (decision
	// 18 (docs/design/decisions.md#d18)).
	OutcomeCounts `json:",inline"`

	// recentOutcomes lists the latest deliveries, newest first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	RecentOutcomes []RemediationOutcome `json:"recentOutcomes,omitempty"`

	// notificationCounts are the notification outcome counters by
	// destination kind, from the controller's checkpoint: every item to
	// notify is pending or ended in exactly one of them.
	// +optional
	// +listType=map
	// +listMapKey=kind
	// +kubebuilder:validation:MaxItems=3
	NotificationCounts []NotificationCounts `json:"notificationCounts,omitempty"`
}

// NotificationCounts count one destination kind's notification items by
// outcome (docs/notifications.md).
type NotificationCounts struct {
	// kind is the destination kind.
	// +required
	// +kubebuilder:validation:Enum=slack;googleChat;webhook
	Kind string `json:"kind,omitempty"`
	// sent counts the items listed in a message the destination accepted.
	// +optional
	Sent int64 `json:"sent,omitempty"`
	// grouped counts the items counted, not listed, in a message the
	// destination accepted.
	// +optional
	Grouped int64 `json:"grouped,omitempty"`
	// droppedQueueFull counts the items dropped because the notification
	// queue (or the policy's account of owed items) was full.
	// +optional
	DroppedQueueFull int64 `json:"droppedQueueFull,omitempty"`
	// droppedRateLimited counts the items dropped because the destination
	// had its messages for the minute.
	// +optional
	DroppedRateLimited int64 `json:"droppedRateLimited,omitempty"`
	// failed counts the items of messages refused for good, whose retries
	// ran out, or whose URL could not be read or is not allowed.
	// +optional
	Failed int64 `json:"failed,omitempty"`
	// interrupted counts the items of messages whose intent was saved but
	// whose answer never came (the process stopped); never sent again.
	// +optional
	Interrupted int64 `json:"interrupted,omitempty"`
	// pending counts the items without an outcome yet (in a queue, a group
	// window or being sent); after a restart these are sent or counted.
	// +optional
	Pending int64 `json:"pending,omitempty"`
}

// Ended is the number of items that reached an outcome.
func (c NotificationCounts) Ended() int64 {
	return c.Sent + c.Grouped + c.DroppedQueueFull + c.DroppedRateLimited + c.Failed + c.Interrupted
}

// Condition types and reasons of a RemediationPolicy.
const (
	ConditionReady = "Ready"
	// ConditionDelivering says whether deliveries reach dot-ai.
	ConditionDelivering = "Delivering"

	ReasonActive           = "Active"
	ReasonSuspended        = "Suspended"
	ReasonInvalidSpec      = "InvalidSpec"
	ReasonInvalidSecretRef = "InvalidSecretRef"
	ReasonMCPUnreachable   = "MCPUnreachable"
	ReasonMCPUnauthorized  = "MCPUnauthorized"
	ReasonQueueFull        = "QueueFull"

	// ReasonDelivered: the last delivery reached dot-ai (Delivering=True).
	ReasonDelivered = "Delivered"
	// ReasonDeliveryFailing: several deliveries in a row failed
	// (Delivering=False).
	ReasonDeliveryFailing = "DeliveryFailing"

	// ConditionNotifying says whether notifications reach their
	// destinations; absent until the first one is sent. Its message names
	// the destination kind and reason, never the URL.
	ConditionNotifying = "Notifying"
	// ReasonNotified: the last notification of every destination was sent.
	ReasonNotified = "Notified"
	// ReasonNotificationFailing: a destination refused a notification for
	// good (a bad URL or Secret, an archived channel).
	ReasonNotificationFailing = "NotificationFailing"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=remediationpolicies,singular=remediationpolicy,shortName=rp,scope=Namespaced,categories=dot-ai
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Delivering",type="string",JSONPath=`.status.conditions[?(@.type=="Delivering")].status`
// +kubebuilder:printcolumn:name="Mode",type="string",JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Events",type="integer",JSONPath=`.status.totalEventsProcessed`
// +kubebuilder:printcolumn:name="Succeeded",type="integer",JSONPath=`.status.successfulRemediations`
// +kubebuilder:printcolumn:name="Failed",type="integer",JSONPath=`.status.failedRemediations`
// +kubebuilder:printcolumn:name="Last-Outcome",type="string",JSONPath=`.status.recentOutcomes[0].result`,description="Result of the newest delivery (recentOutcomes is newest first)"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=`.metadata.creationTimestamp`

// RemediationPolicy selects Kubernetes Events and sends them, enriched with
// logs, related events and the involved object's spec, to the dot-ai
// remediate tool.
type RemediationPolicy struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec selects events and configures remediation.
	// +required
	Spec RemediationPolicySpec `json:"spec,omitzero"`

	// status is the observed state of the policy.
	// +optional
	Status RemediationPolicyStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// RemediationPolicyList is a list of RemediationPolicy.
type RemediationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []RemediationPolicy `json:"items"`
}

// NamespaceSelector selects namespaces by their labels. It is shaped like a
// metav1.LabelSelector (so policies port unchanged) but bounded, as every
// field of this API is: an imported type cannot carry size markers.
type NamespaceSelector struct {
	// matchLabels selects namespaces whose labels include every pair.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	MatchLabels map[string]string `json:"matchLabels,omitempty"`

	// matchExpressions are label requirements; all must hold.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	MatchExpressions []NamespaceSelectorRequirement `json:"matchExpressions,omitempty"`
}

// NamespaceSelectorRequirement is one label requirement of a
// NamespaceSelector, shaped like a metav1.LabelSelectorRequirement.
type NamespaceSelectorRequirement struct {
	// key is the label key the requirement applies to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	Key string `json:"key,omitempty"`

	// operator relates the key to the values: In, NotIn, Exists or
	// DoesNotExist.
	// +required
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
	Operator metav1.LabelSelectorOperator `json:"operator,omitempty"`

	// values must be non-empty for In and NotIn and empty for Exists and
	// DoesNotExist.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Values []string `json:"values,omitempty"`
}

// LabelSelector returns the selector as the metav1 type the label libraries
// take; nil stays nil.
func (s *NamespaceSelector) LabelSelector() *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	out := &metav1.LabelSelector{MatchLabels: s.MatchLabels}
	for _, e := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{Key: e.Key, Operator: e.Operator, Values: e.Values})
	}
	return out
}

// OutcomeSum is the sum of the per-outcome counters, which equals
// TotalEventsProcessed when the counts add up.
func (c OutcomeCounts) OutcomeSum() int64 {
	return c.AnalysesCompleted + c.SuccessfulRemediations + c.FailedRemediations + c.RateLimitedEvents +
		c.CooledDownEvents + c.DroppedEvents + c.SkippedEvents + c.BudgetExceededEvents + c.InterruptedRemediations +
		c.DryRunEvents + c.BelowThresholdEvents + c.ProposalCapEvents
}
