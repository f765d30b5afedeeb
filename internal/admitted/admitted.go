// Package admitted is the seam between the validating webhook and the
// watcher for decision 20 (docs/design/decisions.md#d20): the webhook records
// the spec of every policy that passed all its checks, access reviews
// included, and the watcher acts only on a policy whose stored spec was
// recorded. A policy that reached the cluster without the webhook (for
// example while it was bypassed with failurePolicy: Ignore) was never
// checked, so the watcher treats it as InvalidSpec.
//
// Specs are identified by SpecHash, not by metadata.generation: the webhook
// sees the object as it will be stored, after every mutation, and the
// watcher hashes the stored spec, so the two agree without trusting a
// counter the webhook cannot see being assigned.
package admitted

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
)

// Ledger records which policy specs passed admission (decision 20 (docs/design/decisions.md#d20)).
type Ledger interface {
	// Record notes that p's current spec passed every admission check.
	Record(ctx context.Context, p *v1alpha1.RemediationPolicy) error
	// Admitted reports whether p's current spec was recorded for p.
	Admitted(ctx context.Context, p *v1alpha1.RemediationPolicy) (bool, error)
}

// SpecHash identifies a spec: "sha256:" and the hex SHA-256 of its JSON
// encoding. encoding/json writes struct fields in declaration order and map
// keys sorted, so equal specs hash equally whether they were decoded from
// the admission request, the informer's cache or an unstructured object.
func SpecHash(spec v1alpha1.RemediationPolicySpec) string {
	b, err := json.Marshal(spec)
	if err != nil {
		// The spec holds only strings, numbers, bools, slices and string
		// maps; only a NaN or an infinity (which JSON cannot carry, so no
		// admitted spec has one) fails to encode.
		return "unencodable"
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Memory is a Ledger in memory, for tests. It keeps every hash recorded for
// a policy: an update can pass the webhook and still fail afterwards (a
// conflict, another webhook), so the last hash recorded is not necessarily
// the stored one. A persistent Ledger must keep more than the last hash for
// the same reason.
type Memory struct {
	mu     sync.Mutex
	hashes map[key]map[string]bool
}

// key is the policy's identity: a policy deleted and created again under
// the same name is a new policy with a new UID.
type key struct {
	namespace, name string
	uid             types.UID
}

func keyOf(p *v1alpha1.RemediationPolicy) key { return key{p.Namespace, p.Name, p.UID} }

// Record implements Ledger.
func (m *Memory) Record(_ context.Context, p *v1alpha1.RemediationPolicy) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hashes == nil {
		m.hashes = map[key]map[string]bool{}
	}
	k := keyOf(p)
	if m.hashes[k] == nil {
		m.hashes[k] = map[string]bool{}
	}
	m.hashes[k][SpecHash(p.Spec)] = true
	return nil
}

// Admitted implements Ledger.
func (m *Memory) Admitted(_ context.Context, p *v1alpha1.RemediationPolicy) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hashes[keyOf(p)][SpecHash(p.Spec)], nil
}
