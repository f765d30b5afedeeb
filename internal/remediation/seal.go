package remediation

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// SealKey is the key of the seal Secret's data that holds the HMAC key.
const SealKey = "key"

// sealVersion prefixes a seal, so a later format can be told apart.
const sealVersion = "v1:"

// Sealer seals records with an HMAC whose key lives in a Secret of the
// controller's namespace that only the controller may read. A record's seal
// covers its UID and every field the controller recorded, so neither a record
// created by someone else nor a recorded field changed later (another team's
// sessionId, another URL) passes Verify.
type Sealer struct {
	// Namespace and Name locate the Secret.
	Namespace, Name string
	// Reader is uncached (get only: RBAC grants no list/watch on Secrets).
	Reader client.Reader
	// Writer creates the Secret when it is absent.
	Writer client.Client

	mu  sync.Mutex
	key []byte
}

// sealed is what a seal covers, in a fixed encoding.
type sealed struct {
	UID            types.UID                           `json:"uid"`
	Namespace      string                              `json:"namespace"`
	Name           string                              `json:"name"`
	Policy         v1alpha1.RemediationPolicyReference `json:"policy"`
	Event          v1alpha1.RemediationEvent           `json:"event"`
	Mode           v1alpha1.RemediationMode            `json:"mode"`
	McpURL         string                              `json:"mcpURL"`
	IdempotencyKey string                              `json:"idempotencyKey"`
	SessionID      string                              `json:"sessionId"`
}

// Seal returns the seal of r as it stands (r must have a UID).
func (s *Sealer) Seal(ctx context.Context, r *v1alpha1.Remediation) (string, error) {
	if r.UID == "" {
		return "", errors.New("a record is sealed once it has a UID")
	}
	key, err := s.Key(ctx)
	if err != nil {
		return "", err
	}
	return seal(key, r)
}

// Verify reports whether r carries the seal this controller would give it.
func (s *Sealer) Verify(ctx context.Context, r *v1alpha1.Remediation) (bool, error) {
	if r.Status.Seal == "" || r.UID == "" {
		return false, nil
	}
	key, err := s.Key(ctx)
	if err != nil {
		return false, err
	}
	want, err := seal(key, r)
	if err != nil {
		return false, err
	}
	return hmac.Equal([]byte(want), []byte(r.Status.Seal)), nil
}

func seal(key []byte, r *v1alpha1.Remediation) (string, error) {
	b, err := json.Marshal(sealed{
		UID: r.UID, Namespace: r.Namespace, Name: r.Name,
		Policy: r.Spec.Policy, Event: r.Spec.Event, Mode: r.Spec.Mode, McpURL: r.Spec.McpURL,
		IdempotencyKey: r.Spec.IdempotencyKey, SessionID: r.Status.SessionID,
	})
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return sealVersion + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// Key returns the HMAC key, reading the Secret once and creating it with a
// random key when it does not exist.
func (s *Sealer) Key(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	for range 2 {
		var sec corev1.Secret
		err := s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Name}, &sec)
		if err == nil {
			k := sec.Data[SealKey]
			if len(k) < 32 {
				return nil, fmt.Errorf("seal Secret %s/%s: key %q holds fewer than 32 bytes", s.Namespace, s.Name, SealKey)
			}
			s.key = k
			return k, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading the seal Secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		sec = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, Labels: map[string]string{LabelManagedBy: ManagedBy}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{SealKey: k},
		}
		err = s.Writer.Create(ctx, &sec)
		if err == nil {
			s.key = k
			return k, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating the seal Secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		// Created meanwhile by another process: read it.
	}
	return nil, fmt.Errorf("seal Secret %s/%s: created and gone again", s.Namespace, s.Name)
}
