package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"dot-ai.io/controller/api/v1alpha1"
)

func record(phase v1alpha1.RemediationPhase, approval *v1alpha1.RemediationApproval) *v1alpha1.Remediation {
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "r"},
		Spec: v1alpha1.RemediationSpec{
			Policy: v1alpha1.RemediationPolicyReference{Namespace: "dot-ai", Name: "p", UID: "u"},
			Event:  v1alpha1.RemediationEvent{Name: "e", InvolvedObject: v1alpha1.RemediationObjectReference{Kind: "Pod", Name: "web"}},
			Mode:   v1alpha1.ModeManual, McpURL: "http://127.0.0.1:3456/api/v1/tools/remediate", IdempotencyKey: "k",
			Approval: approval,
		},
		Status: v1alpha1.RemediationStatus{Phase: phase},
	}
}

func TestStampDecision(t *testing.T) {
	now := time.Date(2026, 11, 29, 23, 0, 0, 500, time.UTC)
	at := &metav1.Time{Time: now.Add(-time.Hour)}
	tests := map[string]struct {
		old, new *v1alpha1.Remediation
		want     *v1alpha1.RemediationApproval
		errs     field.ErrorList
	}{
		"a first decision is stamped": {
			old: record(v1alpha1.PhaseAwaitingApproval, nil), new: record(v1alpha1.PhaseAwaitingApproval, &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove}),
			want: &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove, DecidedBy: "alice", DecidedAt: &metav1.Time{Time: now.Truncate(time.Second)}},
		},
		"a supplied decidedBy is refused": {
			old: record(v1alpha1.PhaseAwaitingApproval, nil), new: record(v1alpha1.PhaseAwaitingApproval, &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove, DecidedBy: "alice"}),
			want: &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove, DecidedBy: "alice"},
			errs: field.ErrorList{field.Forbidden(decidedByPath, MsgStamped)},
		},
		"a supplied decidedAt is refused": {
			old: record(v1alpha1.PhaseAwaitingApproval, nil), new: record(v1alpha1.PhaseAwaitingApproval, &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionReject, DecidedAt: at}),
			want: &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionReject, DecidedAt: at},
			errs: field.ErrorList{field.Forbidden(decidedAtPath, MsgStamped)},
		},
		"an earlier decision is left to the validation": {
			old:  record(v1alpha1.PhaseApproved, &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove, DecidedBy: "bob", DecidedAt: at}),
			new:  record(v1alpha1.PhaseApproved, &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionReject, DecidedBy: "bob", DecidedAt: at}),
			want: &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionReject, DecidedBy: "bob", DecidedAt: at},
		},
		"no decision, nothing stamped": {old: record(v1alpha1.PhaseAwaitingApproval, nil), new: record(v1alpha1.PhaseAwaitingApproval, nil)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			errs := StampDecision("alice", now, tc.old, tc.new)
			assert.Equal(t, tc.errs, errs)
			assert.Equal(t, tc.want, tc.new.Spec.Approval)
		})
	}
}

func TestValidateRemediationChange(t *testing.T) {
	at := &metav1.Time{Time: time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)}
	stamped := func(d v1alpha1.ApprovalDecision, by string) *v1alpha1.RemediationApproval {
		return &v1alpha1.RemediationApproval{Decision: d, DecidedBy: by, DecidedAt: at}
	}
	awaiting := record(v1alpha1.PhaseAwaitingApproval, nil)
	tests := map[string]struct {
		sub      string
		old, new *v1alpha1.Remediation
		errs     field.ErrorList
		decides  bool
	}{
		"a create": {new: awaiting, errs: field.ErrorList{field.Forbidden(specPath, MsgControllerCreates)}},
		"a status write": {sub: "status", old: awaiting, new: record(v1alpha1.PhaseApproved, nil),
			errs: field.ErrorList{field.Forbidden(field.NewPath("status"), MsgControllerStatus)}},
		"a stamped first decision": {old: awaiting, new: record(v1alpha1.PhaseAwaitingApproval, stamped(v1alpha1.DecisionApprove, "alice")), decides: true},
		"a decision stamped for someone else": {old: awaiting, new: record(v1alpha1.PhaseAwaitingApproval, stamped(v1alpha1.DecisionApprove, "bob")),
			errs: field.ErrorList{field.Forbidden(decidedByPath, MsgStamped)}},
		"a decision without decidedAt": {old: awaiting, new: record(v1alpha1.PhaseAwaitingApproval, &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionReject, DecidedBy: "alice"}),
			errs: field.ErrorList{field.Required(decidedAtPath, MsgStamped)}},
		"a decision on an Expired record": {old: record(v1alpha1.PhaseExpired, nil), new: record(v1alpha1.PhaseExpired, stamped(v1alpha1.DecisionApprove, "alice")),
			errs: field.ErrorList{field.Forbidden(decisionPath, "only a proposal in phase AwaitingApproval can be decided; this record is Expired")}},
		"a decision on a record not analysed yet": {old: record("", nil), new: record("", stamped(v1alpha1.DecisionApprove, "alice")),
			errs: field.ErrorList{field.Forbidden(decisionPath, "only a proposal in phase AwaitingApproval can be decided; this record is not analysed yet")}},
		"a changed decision": {old: record(v1alpha1.PhaseApproved, stamped(v1alpha1.DecisionApprove, "bob")), new: record(v1alpha1.PhaseApproved, stamped(v1alpha1.DecisionReject, "bob")),
			errs: field.ErrorList{field.Forbidden(approvalPath, "the proposal was already decided (Approve by bob); a decision cannot be changed or removed")}},
		"an unchanged decision (a label change)": {old: record(v1alpha1.PhaseApproved, stamped(v1alpha1.DecisionApprove, "bob")), new: record(v1alpha1.PhaseApproved, stamped(v1alpha1.DecisionApprove, "bob"))},
		"recorded fields": {old: awaiting, new: func() *v1alpha1.Remediation {
			r := record(v1alpha1.PhaseAwaitingApproval, nil)
			r.Spec.Policy.UID, r.Spec.Event.Reason, r.Spec.Mode, r.Spec.McpURL, r.Spec.IdempotencyKey = "x", "x", v1alpha1.ModeAutomatic, "http://127.0.0.1:1/", "x"
			return r
		}(), errs: field.ErrorList{
			field.Forbidden(specPath.Child("policy"), MsgRecorded), field.Forbidden(specPath.Child("event"), MsgRecorded),
			field.Forbidden(specPath.Child("mode"), MsgRecorded), field.Forbidden(specPath.Child("mcpURL"), MsgRecorded),
			field.Forbidden(specPath.Child("idempotencyKey"), MsgRecorded),
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			errs, decides := ValidateRemediationChange("alice", tc.sub, tc.old, tc.new)
			assert.Equal(t, tc.errs, errs)
			assert.Equal(t, tc.decides, decides)
		})
	}
}

type fakeReviewer struct {
	allowed bool
	err     error
	asked   []authorizationv1.SubjectAccessReviewSpec
}

func (f *fakeReviewer) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	f.asked = append(f.asked, sar.Spec)
	sar.Status.Allowed = f.allowed
	return sar, f.err
}

func TestApproveAttributes(t *testing.T) {
	f := &fakeReviewer{allowed: true}
	allowed, err := askAccess(context.Background(), f, time.Second, authnUser("alice", "sre"), []authorizationv1.ResourceAttributes{ApproveAttributes("team-a", "r")})
	require.NoError(t, err)
	assert.Equal(t, []bool{true}, allowed)
	require.Len(t, f.asked, 1)
	assert.Equal(t, authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "approve", Group: "remediation.dot-ai.io", Resource: "remediations", Name: "r"},
		*f.asked[0].ResourceAttributes)
	assert.Equal(t, []string{"sre"}, f.asked[0].Groups, "group grants count")

	_, err = askAccess(context.Background(), &fakeReviewer{err: errors.New("down")}, time.Second, authnUser("alice"), []authorizationv1.ResourceAttributes{ApproveAttributes("team-a", "r")})
	require.Error(t, err, "an unanswered review never allows")
}

func authnUser(name string, groups ...string) authenticationv1.UserInfo {
	return authenticationv1.UserInfo{Username: name, Groups: groups}
}

// TestRemediationHandlers drives both webhooks as the apiserver would, for
// what the envtest suite cannot reach: the controller's own requests (the
// chart's match condition keeps them away; the handlers admit them anyway)
// and the number of access reviews a decision costs.
func TestRemediationHandlers(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, v1alpha1.AddToScheme(s))
	raw := func(r *v1alpha1.Remediation) runtime.RawExtension {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		return runtime.RawExtension{Raw: b}
	}
	awaiting := record(v1alpha1.PhaseAwaitingApproval, nil)
	decided := record(v1alpha1.PhaseAwaitingApproval, &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove})
	now := time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)
	stamped := record(v1alpha1.PhaseAwaitingApproval, &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove,
		DecidedBy: "alice", DecidedAt: &metav1.Time{Time: now}})
	tests := map[string]struct {
		user, sub  string
		op         admissionv1.Operation
		old, new   *v1alpha1.Remediation
		allowed    bool
		mutateOnly bool
		reviews    int
		patched    bool
	}{
		"the controller creates":              {user: "ctrl", op: admissionv1.Create, new: awaiting, allowed: true},
		"the controller writes status":        {user: "ctrl", op: admissionv1.Update, sub: "status", old: awaiting, new: record(v1alpha1.PhaseApproved, nil), allowed: true},
		"someone else creates":                {user: "alice", op: admissionv1.Create, new: awaiting},
		"someone else writes status":          {user: "alice", op: admissionv1.Update, sub: "status", old: awaiting, new: record(v1alpha1.PhaseApproved, nil)},
		"a decision is stamped":               {user: "alice", op: admissionv1.Update, old: awaiting, new: decided, mutateOnly: true, allowed: true, patched: true},
		"the controller's decision is not":    {user: "ctrl", op: admissionv1.Update, old: awaiting, new: decided, mutateOnly: true, allowed: true},
		"a stamped decision costs one review": {user: "alice", op: admissionv1.Update, old: awaiting, new: stamped, allowed: true, reviews: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := &fakeReviewer{allowed: true}
			w := &RemediationWebhook{ControllerUsername: "ctrl", Reviewer: f, Now: func() time.Time { return now }}
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "1", Operation: tc.op, SubResource: tc.sub, Name: tc.new.Name, Namespace: tc.new.Namespace,
				UserInfo: authenticationv1.UserInfo{Username: tc.user}, Object: raw(tc.new),
			}}
			if tc.old != nil {
				req.OldObject = raw(tc.old)
			}
			var resp admission.Response
			if tc.mutateOnly {
				resp = admission.WithDefaulter[*v1alpha1.Remediation](s, w).Handle(context.Background(), req)
			} else {
				resp = admission.WithValidator[*v1alpha1.Remediation](s, w).Handle(context.Background(), req)
			}
			assert.Equal(t, tc.allowed, resp.Allowed, "%+v", resp.Result)
			assert.Equal(t, tc.patched, len(resp.Patches) > 0, "%+v", resp.Patches)
			assert.Len(t, f.asked, tc.reviews)
		})
	}
}
