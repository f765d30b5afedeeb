package webhook_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/admitted"
	"dot-ai.io/controller/internal/policy/policytest"
	"dot-ai.io/controller/internal/webhook"
)

// fakeReviewer answers every review with allow (unless the access is in
// deny), or err, or blocks until its context ends when hang is set; it
// records what it was asked.
type fakeReviewer struct {
	mu   sync.Mutex
	seen []authorizationv1.SubjectAccessReviewSpec
	deny map[string]bool // Resource[/Subresource]
	err  error
	hang bool
}

func (f *fakeReviewer) Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	f.mu.Lock()
	f.seen = append(f.seen, sar.Spec)
	f.mu.Unlock()
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	a := sar.Spec.ResourceAttributes
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	out := sar.DeepCopy()
	out.Status.Allowed = !f.deny[res]
	return out, nil
}

var tenant = authenticationv1.UserInfo{
	Username: "alice", UID: "uid-alice", Groups: []string{"team-a-admins", "system:authenticated"},
	Extra: map[string]authenticationv1.ExtraValue{"scopes.example.io/tenant": {"a", "b"}},
}

// asUser is the context the validator sees: controller-runtime puts the
// admission request in it.
func asUser(ctx context.Context, u authenticationv1.UserInfo) context.Context {
	return admission.NewContextWithRequest(ctx, admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UserInfo: u}})
}

func ownEndpointPolicy() *v1alpha1.RemediationPolicy {
	p := newPolicy("team-a", "own")
	p.UID = "policy-uid"
	p.Spec.McpEndpoint = policytest.OtherEndpoint
	p.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: "x", Key: "token"}
	return p
}

// TestAccessReviewsCarryTheRequestingUser: every review asks about the
// admission request's user with their groups, UID and extra, so a grant to
// a group or an authorizer that looks at extra (scopes) is honoured.
func TestAccessReviewsCarryTheRequestingUser(t *testing.T) {
	r := &fakeReviewer{}
	w := &webhook.RemediationPolicyWebhook{Settings: policytest.Settings(), Reviewer: r}
	_, err := w.ValidateCreate(asUser(t.Context(), tenant), ownEndpointPolicy())
	require.NoError(t, err)
	require.NotEmpty(t, r.seen)
	for _, s := range r.seen {
		assert.Equal(t, tenant.Username, s.User)
		assert.Equal(t, tenant.UID, s.UID)
		assert.Equal(t, tenant.Groups, s.Groups)
		assert.Equal(t, map[string]authorizationv1.ExtraValue{"scopes.example.io/tenant": {"a", "b"}}, s.Extra)
		require.NotNil(t, s.ResourceAttributes)
	}
}

func TestAccessReviewOutcomes(t *testing.T) {
	cases := []struct {
		name     string
		reviewer *fakeReviewer
		ledger   *failingLedger
		// want: "" admitted, "invalid" 422 naming wantText, "unavailable" 503
		want     string
		wantText string
	}{
		{name: "all allowed", reviewer: &fakeReviewer{}},
		{name: "secret denied", reviewer: &fakeReviewer{deny: map[string]bool{"secrets": true}},
			want: "invalid", wantText: `spec.mcpAuthSecretRef.name: Forbidden: you may not get secrets "x" in namespace "team-a"`},
		{name: "logs denied", reviewer: &fakeReviewer{deny: map[string]bool{"pods/log": true}},
			want: "invalid", wantText: `spec.contextGathering.includeLogs: Forbidden: you may not get pods/log in namespace "team-a"`},
		{name: "review fails: fail closed", reviewer: &fakeReviewer{err: errors.New("apiserver says no")},
			want: "unavailable", wantText: "could not check the requesting user's access"},
		{name: "review hangs: bounded, fail closed", reviewer: &fakeReviewer{hang: true},
			want: "unavailable", wantText: "could not check the requesting user's access"},
		{name: "record fails: retryable", reviewer: &fakeReviewer{}, ledger: &failingLedger{},
			want: "unavailable", wantText: webhook.MsgRecordFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := &webhook.RemediationPolicyWebhook{Settings: policytest.Settings(), Reviewer: tc.reviewer, ReviewTimeout: 200 * time.Millisecond}
			if tc.ledger != nil {
				w.Ledger = tc.ledger
			}
			start := time.Now()
			_, err := w.ValidateCreate(asUser(t.Context(), tenant), ownEndpointPolicy())
			assert.Less(t, time.Since(start), 5*time.Second, "reviews are bounded in time")
			switch tc.want {
			case "":
				require.NoError(t, err)
				return
			case "invalid":
				assert.True(t, apierrors.IsInvalid(err), "want 422, got %v", err)
			case "unavailable":
				assert.True(t, apierrors.IsServiceUnavailable(err), "want 503, got %v", err)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantText)
			assert.NotContains(t, err.Error(), policytest.OtherEndpoint)
			assert.NotContains(t, err.Error(), "apiserver says no", "the cause goes to the log")
		})
	}
}

// TestNoReviewWithoutNeed: a policy that names neither its own endpoint nor
// a Secret needs no review, so the webhook works without an admission
// request in context (the fuzz test, direct calls).
func TestNoReviewWithoutNeed(t *testing.T) {
	r := &fakeReviewer{err: errors.New("must not be called")}
	w := &webhook.RemediationPolicyWebhook{Settings: policytest.Settings(), Reviewer: r}
	_, err := w.ValidateCreate(t.Context(), newPolicy("team-a", "plain"))
	require.NoError(t, err)
	assert.Empty(t, r.seen)
}

// TestLedger: the webhook records what it admits, not what it rejects; an
// update that keeps the spec is never rejected and re-admits an unrecorded
// policy when its author passes the reviews.
func TestLedger(t *testing.T) {
	ctx := asUser(t.Context(), tenant)
	l := &admitted.Memory{}
	w := &webhook.RemediationPolicyWebhook{Settings: policytest.Settings(), Reviewer: &fakeReviewer{}, Ledger: l}
	p := ownEndpointPolicy()
	_, err := w.ValidateCreate(ctx, p)
	require.NoError(t, err)
	ok, _ := l.Admitted(ctx, p)
	assert.True(t, ok, "admitted on create")

	denied := &webhook.RemediationPolicyWebhook{Settings: policytest.Settings(), Reviewer: &fakeReviewer{deny: map[string]bool{"events": true}}, Ledger: l}
	changed := p.DeepCopy()
	changed.Spec.McpTool = "other"
	_, err = denied.ValidateUpdate(ctx, p, changed)
	require.Error(t, err)
	ok, _ = l.Admitted(ctx, changed)
	assert.False(t, ok, "a rejected spec is not recorded")

	bypassed := p.DeepCopy()
	bypassed.UID = "created-while-bypassed"
	relabelled := bypassed.DeepCopy()
	relabelled.Labels = map[string]string{"x": "y"}
	_, err = denied.ValidateUpdate(ctx, bypassed, relabelled)
	require.NoError(t, err, "an update keeping the spec is never rejected")
	ok, _ = l.Admitted(ctx, relabelled)
	assert.False(t, ok, "not re-admitted by a user who fails the reviews")

	_, err = w.ValidateUpdate(ctx, bypassed, relabelled)
	require.NoError(t, err)
	ok, _ = l.Admitted(ctx, relabelled)
	assert.True(t, ok, "re-admitted by a user who passes them")

	// A dry run has no side effects (sideEffects: NoneOnDryRun).
	dry := admission.NewContextWithRequest(t.Context(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UserInfo: tenant, DryRun: new(true)}})
	tried := ownEndpointPolicy()
	tried.UID = "dry"
	_, err = w.ValidateCreate(dry, tried)
	require.NoError(t, err)
	ok, _ = l.Admitted(ctx, tried)
	assert.False(t, ok, "a dry run is not recorded")
}

type failingLedger struct{}

func (failingLedger) Record(context.Context, *v1alpha1.RemediationPolicy) error {
	return errors.New("store down")
}

func (failingLedger) Admitted(context.Context, *v1alpha1.RemediationPolicy) (bool, error) {
	return false, nil
}
