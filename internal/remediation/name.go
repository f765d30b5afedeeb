// Package remediation writes the Remediation records of delivered event
// occurrences (api/v1alpha1/remediation_types.go) and acts on them: a record
// is the write-ahead intent of a call that can change the cluster (decision
// 17 (docs/design/decisions.md#d17)), is sealed so the controller executes
// only records it created itself, runs an approved proposal at most once,
// expires undecided proposals and keeps each namespace's records bounded.
// docs/remediations.md describes the loop for users.
package remediation

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
)

// Labels of a record. They are set at creation and never change, so the
// controller can list a policy's automatic-mode records at start-up.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "dot-ai-controller"
	LabelPolicyUID = "dot-ai.io/policy-uid"
	LabelMode      = "remediation.dot-ai.io/mode"
)

const namePrefix = "rem-"

var hexKey = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Name is the record's name for an occurrence's Idempotency-Key
// (delivery.IdempotencyKey): the key itself, so a user can find the call in
// dot-ai's logs from the record's name, and a second create of the same
// occurrence collides.
func Name(idempotencyKey string) string {
	if hexKey.MatchString(idempotencyKey) {
		return namePrefix + idempotencyKey
	}
	sum := sha256.Sum256([]byte(idempotencyKey))
	return namePrefix + hex.EncodeToString(sum[:16])
}
