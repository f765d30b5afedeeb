package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ControllerState is internal: the controller's durable state, kept in the
// release namespace and written only by the controller (its RBAC grants no
// one else more than read). Each object holds exactly one part: the
// checkpoint of one policy, the write-ahead intent of one automatic-mode
// call, or the record of which specs of one policy passed admission. The
// format and its byte budget are described in docs/design/state.md.

// CurrentStateFormat is the formatVersion this controller writes. It refuses
// to act on a newer one rather than misread it.
const CurrentStateFormat = 1

// StatePolicyReference names the RemediationPolicy a state object belongs to.
type StatePolicyReference struct {
	// namespace of the policy.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// name of the policy.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// uid of the policy; empty in admission records of a policy being
	// created (its UID is not known yet).
	// +optional
	// +kubebuilder:validation:MaxLength=36
	UID string `json:"uid,omitempty"`
}

// CheckpointState is what survives a restart for one policy: which event
// occurrences reached an outcome, the outcome counters (written in the same
// write, decision 18 (docs/design/decisions.md#d18)), cooldowns and the
// rate limiter's bucket.
type CheckpointState struct {
	// since is when the policy was created or last resumed: events whose
	// last occurrence is before it are not this policy's.
	// +required
	Since *metav1.Time `json:"since,omitempty"`

	// watermark is the event time up to which marks of occurrences were
	// pruned: marks of occurrences up to this event time were pruned;
	// such occurrences count as handled.
	// +optional
	Watermark *metav1.Time `json:"watermark,omitempty"`

	// suspended is the policy's suspend flag as last seen, so a resume while
	// the controller was down still moves since.
	// +optional
	Suspended bool `json:"suspended,omitempty"`

	// handled lists the occurrences that reached an outcome, one line per
	// event: "<event uid> <highest occurrence count> <unix seconds>".
	// +optional
	// +kubebuilder:validation:MaxLength=480000
	Handled string `json:"handled,omitempty"`

	// cooldowns lists active cooldowns, one line per object:
	// "<unix milliseconds of its end> <sha256 of the object and reason, 32
	// hex>".
	// +optional
	// +kubebuilder:validation:MaxLength=100000
	Cooldowns string `json:"cooldowns,omitempty"`

	// recurrence lists the problems counting towards a minOccurrences
	// threshold, one line each: "<sha256 of object, reason and message, 32
	// hex> <unix seconds>,<unix seconds>,…".
	// +optional
	// +kubebuilder:validation:MaxLength=150000
	Recurrence string `json:"recurrence,omitempty"`

	// bucket is the eventsPerMinute token bucket.
	// +optional
	Bucket TokenBucketState `json:"bucket,omitzero"`

	// counts are the outcome counters the policy's status shows.
	// +optional
	Counts OutcomeCounts `json:"counts,omitzero"`

	// recentOutcomes are the latest outcomes, newest first, as the policy's
	// status shows them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	RecentOutcomes []RemediationOutcome `json:"recentOutcomes,omitempty"`

	// lastProcessedEvent is when the policy last processed an event.
	// +optional
	LastProcessedEvent *metav1.Time `json:"lastProcessedEvent,omitempty"`

	// notifications is the account of the policy's notification items: the
	// ones owed (handed to the notifier without an outcome yet) and the
	// counted outcomes, written in the same write as the outcomes that owe
	// them (decision 21 (docs/design/decisions.md#d21)).
	// +optional
	Notifications NotificationLedgerState `json:"notifications,omitzero"`
}

// NotificationLedgerState is one policy's notification account.
type NotificationLedgerState struct {
	// nextSeq numbers the policy's next notification item.
	// +optional
	// +kubebuilder:validation:Minimum=0
	NextSeq int64 `json:"nextSeq,omitempty"`

	// owed lists the items without an outcome, one line each, by sequence
	// number: "<seq> <destination kinds> <phase> <result> <unix seconds>
	// <event uid/count> <namespace> <Kind/name> <reason>" for the first
	// ones of each destination kind (those a message can list), "<seq>
	// <destination kinds>" for the rest (those it counts).
	// +optional
	// +kubebuilder:validation:MaxLength=80000
	Owed string `json:"owed,omitempty"`

	// counts are the notification outcome counters by destination kind.
	// +optional
	// +listType=map
	// +listMapKey=kind
	// +kubebuilder:validation:MaxItems=3
	Counts []NotificationCounts `json:"counts,omitempty"`
}

// TokenBucketState is a token bucket: tokens left at last.
type TokenBucketState struct {
	// milliTokens are the tokens left, in thousandths of a token.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MilliTokens int64 `json:"milliTokens,omitempty"`

	// last is when tokens was computed; unset means a full bucket.
	// +optional
	Last *metav1.MicroTime `json:"last,omitempty"`
}

// IntentState is the write-ahead intent of one call that can change the
// cluster (decision 17 (docs/design/decisions.md#d17)): written before the
// request leaves, removed once the occurrence's outcome is checkpointed. An
// intent found without that outcome becomes an Interrupted outcome and the
// call is never sent again.
type IntentState struct {
	// occurrenceKey is the occurrence's idempotency key (policy UID, event
	// UID, occurrence count).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	OccurrenceKey string `json:"occurrenceKey,omitempty"`

	// idempotencyKey is the Idempotency-Key header the call carries, to find
	// it in dot-ai.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	IdempotencyKey string `json:"idempotencyKey,omitempty"`

	// event identifies the event occurrence.
	// +required
	Event IntentEvent `json:"event,omitzero"`

	// createdAt is when the intent was written, just before the call.
	// +required
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`
}

// IntentEvent identifies the event occurrence of an intent.
type IntentEvent struct {
	// namespace of the Kubernetes Event.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// name of the Kubernetes Event.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// uid of the Kubernetes Event.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=36
	UID string `json:"uid,omitempty"`

	// count is the occurrence count.
	// +required
	// +kubebuilder:validation:Minimum=1
	Count int32 `json:"count,omitempty"`

	// time is the occurrence's time.
	// +required
	Time *metav1.Time `json:"time,omitempty"`

	// reason of the Kubernetes Event.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason,omitempty"`

	// involvedObject is the Kind/name of the object the event is about.
	// +optional
	// +kubebuilder:validation:MaxLength=320
	InvolvedObject string `json:"involvedObject,omitempty"`
}

// AdmissionState records which specs of one policy passed the validating
// webhook, including its access checks (decision 20 (docs/design/decisions.md#d20)
// (docs/design/decisions.md#d20)). The watcher acts only on a policy whose
// spec is listed.
type AdmissionState struct {
	// specs are the admitted specs, newest first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Specs []AdmittedSpec `json:"specs,omitempty"`
}

// AdmittedSpec is one spec that passed admission.
type AdmittedSpec struct {
	// specHash is "sha256:" and the hex sha256 of the spec's JSON.
	// +required
	// +kubebuilder:validation:MinLength=71
	// +kubebuilder:validation:MaxLength=71
	// +kubebuilder:validation:Pattern=`^sha256:[0-9a-f]{64}$`
	SpecHash string `json:"specHash,omitempty"`

	// uid of the policy when it was known (updates).
	// +optional
	// +kubebuilder:validation:MaxLength=36
	UID string `json:"uid,omitempty"`

	// time of the admission.
	// +required
	Time *metav1.Time `json:"time,omitempty"`
}

// NotificationIntentState is the write-ahead intent of one notification
// message (decision 21 (docs/design/decisions.md#d21)): written before the
// message is sent, removed once its items are counted. An intent found
// after a restart counts its items as interrupted; the message is never
// sent again. It holds no content and never the destination's URL.
type NotificationIntentState struct {
	// messageId identifies the message (hex).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[0-9a-f]+$`
	MessageID string `json:"messageId,omitempty"`

	// kind is the destination kind.
	// +required
	// +kubebuilder:validation:Enum=slack;googleChat;webhook
	Kind string `json:"kind,omitempty"`

	// items is how many notification items the message reports.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Items int32 `json:"items,omitempty"`

	// createdAt is when the intent was written, just before the send.
	// +required
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`

	// firstSeq and lastSeq are the sequence numbers of the first and last
	// item the message reports (the policy's notification account numbers
	// its items); unset when the items are not accounted for in a checkpoint.
	// +optional
	// +kubebuilder:validation:Minimum=0
	FirstSeq int64 `json:"firstSeq,omitempty"`

	// lastSeq is the sequence number of the message's last item.
	// +optional
	// +kubebuilder:validation:Minimum=0
	LastSeq int64 `json:"lastSeq,omitempty"`
}

// PodOwnersState remembers the controlling owners of Pods that showed a
// problem, so that an Event of such a Pod deleted while the controller was
// down can be delivered with its owner as the object of interest when the
// owner's current Pods still show that problem (docs/policies.md).
type PodOwnersState struct {
	// pods lists one Pod a line: "<pod uid> <owner group/Kind> <owner name>
	// <owner uid> <unix seconds last seen> <problems, comma-separated>".
	// +optional
	// +kubebuilder:validation:MaxLength=400000
	Pods string `json:"pods,omitempty"`
}

// ControllerStateSpec holds exactly one part of the controller's state.
// +kubebuilder:validation:XValidation:rule="(has(self.checkpoint) ? 1 : 0) + (has(self.intent) ? 1 : 0) + (has(self.admission) ? 1 : 0) + (has(self.notification) ? 1 : 0) + (has(self.podOwners) ? 1 : 0) == 1",message="exactly one of checkpoint, intent, admission, notification and podOwners must be set"
// +kubebuilder:validation:XValidation:rule="has(self.podOwners) || has(self.policy)",message="policy is required"
type ControllerStateSpec struct {
	// formatVersion is the version of this object's format.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	FormatVersion int32 `json:"formatVersion,omitempty"`

	// policy is the RemediationPolicy the state belongs to; every part but
	// podOwners (the installation's) has one.
	// +optional
	Policy StatePolicyReference `json:"policy,omitzero"` //nolint:kubeapilinter // optional only for podOwners; the CEL rule above requires it otherwise

	// checkpoint is the policy's checkpoint.
	// +optional
	Checkpoint *CheckpointState `json:"checkpoint,omitempty"`

	// intent is the write-ahead intent of one call.
	// +optional
	Intent *IntentState `json:"intent,omitempty"`

	// admission records the policy's admitted specs.
	// +optional
	Admission *AdmissionState `json:"admission,omitempty"`

	// notification is the write-ahead intent of one notification message.
	// +optional
	Notification *NotificationIntentState `json:"notification,omitempty"`

	// podOwners remembers the owners of Pods that showed a problem.
	// +optional
	PodOwners *PodOwnersState `json:"podOwners,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=controllerstates,singular=controllerstate,scope=Namespaced
// +kubebuilder:printcolumn:name="Policy-Namespace",type="string",JSONPath=`.spec.policy.namespace`
// +kubebuilder:printcolumn:name="Policy",type="string",JSONPath=`.spec.policy.name`
// +kubebuilder:printcolumn:name="Format",type="integer",JSONPath=`.spec.formatVersion`
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=`.metadata.creationTimestamp`

// ControllerState is the dot-ai controller's internal, durable state: one
// policy's checkpoint, one write-ahead intent or one policy's admission
// record. Only the controller writes it; it is not part of the user-facing
// API (no categories, so `kubectl get all,dot-ai` does not list it).
type ControllerState struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the state.
	// +required
	Spec ControllerStateSpec `json:"spec,omitzero"`
}

// +kubebuilder:object:root=true

// ControllerStateList is a list of ControllerState.
type ControllerStateList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the state objects.
	Items []ControllerState `json:"items"`
}
