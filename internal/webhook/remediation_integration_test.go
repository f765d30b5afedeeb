package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/permissions"
	"dot-ai.io/controller/internal/webhook"
	"dot-ai.io/controller/internal/webhook/webhooktest"
)

// TestRemediationWebhooksAgainstAPIServer: records are the controller's, and
// a decision needs the verb approve, is stamped with the decider and taken
// once, only while AwaitingApproval. The apiserver runs the chart's webhook
// configurations and the CRD's rules, so each rejection is checked with the
// field path a user sees, whichever of them answers first.
func TestRemediationWebhooksAgainstAPIServer(t *testing.T) {
	e := webhooktest.StartRemediationEnv(t, "team-a")
	ctx := t.Context()
	editor, _ := e.User(t, "editor", webhooktest.RoleEditor, "team-a")
	approver, _ := e.User(t, "approver", permissions.RemediationApprover, "team-a")
	viewer, _ := e.User(t, "viewer", permissions.RemediationViewer, "team-a")
	users := map[string]client.Client{"editor": editor, "approver": approver, "viewer": viewer, "admin": e.Admin}

	awaiting := webhooktest.Proposal()
	expired := webhooktest.Proposal()
	expired.Phase = v1alpha1.PhaseExpired
	decided := func(d v1alpha1.ApprovalDecision, reason string) func(*v1alpha1.Remediation) {
		return func(r *v1alpha1.Remediation) {
			r.Spec.Approval = &v1alpha1.RemediationApproval{Decision: d, Reason: reason}
		}
	}

	cases := []struct {
		name   string
		user   string
		status v1alpha1.RemediationStatus
		// first, when set, is a decision the approver takes before.
		first  func(*v1alpha1.Remediation)
		change func(*v1alpha1.Remediation)
		// status writes the status subresource instead of the object.
		status2 bool
		// wantFields are the rejected fields; nil means admitted.
		wantFields []string
		wantText   string
		forbidden  bool
	}{
		{name: "an approver approves", user: "approver", status: awaiting, change: decided(v1alpha1.DecisionApprove, "")},
		{name: "an approver rejects with a reason", user: "approver", status: awaiting, change: decided(v1alpha1.DecisionReject, "not during the freeze")},
		{name: "an editor without approve is denied", user: "editor", status: awaiting, change: decided(v1alpha1.DecisionApprove, ""),
			wantFields: []string{"spec.approval.decision"}, wantText: `needs the verb "approve"`},
		{name: "an editor may not reject either", user: "editor", status: awaiting, change: decided(v1alpha1.DecisionReject, ""),
			wantFields: []string{"spec.approval.decision"}, wantText: "editing rights are not enough"},
		{name: "a viewer may not update at all (RBAC)", user: "viewer", status: awaiting, change: decided(v1alpha1.DecisionApprove, ""), forbidden: true},
		{name: "a second approval", user: "approver", status: awaiting, first: decided(v1alpha1.DecisionApprove, ""),
			change: func(r *v1alpha1.Remediation) {
				r.Spec.Approval = &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove}
			},
			wantFields: []string{"spec.approval"}, wantText: "decided once"},
		{name: "turning an approval into a rejection", user: "approver", status: awaiting, first: decided(v1alpha1.DecisionApprove, ""),
			change: func(r *v1alpha1.Remediation) { r.Spec.Approval.Decision = v1alpha1.DecisionReject }, wantFields: []string{"spec.approval"}},
		{name: "removing a decision", user: "approver", status: awaiting, first: decided(v1alpha1.DecisionReject, ""),
			change: func(r *v1alpha1.Remediation) { r.Spec.Approval = nil }, wantFields: []string{"spec.approval"}},
		{name: "an Expired record", user: "approver", status: expired, change: decided(v1alpha1.DecisionApprove, ""),
			wantFields: []string{"spec.approval.decision"}, wantText: "this record is Expired"},
		{name: "a forged decidedBy", user: "approver", status: awaiting, change: func(r *v1alpha1.Remediation) {
			r.Spec.Approval = &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove, DecidedBy: "the-boss"}
		}, wantFields: []string{"spec.approval.decidedBy"}, wantText: webhook.MsgStamped},
		{name: "a forged decidedAt", user: "approver", status: awaiting, change: func(r *v1alpha1.Remediation) {
			r.Spec.Approval = &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove, DecidedAt: &metav1.Time{Time: time.Now().Add(-time.Hour)}}
		}, wantFields: []string{"spec.approval.decidedAt"}},
		{name: "an edit of a recorded field", user: "editor", status: awaiting, change: func(r *v1alpha1.Remediation) {
			r.Spec.McpURL = "http://127.0.0.1:9/elsewhere"
		}, wantFields: []string{"spec.mcpURL"}},
		{name: "cluster-admin edits the recorded event", user: "admin", status: awaiting, change: func(r *v1alpha1.Remediation) {
			r.Spec.Event.InvolvedObject.Name = "other"
		}, wantFields: []string{"spec.event"}},
		{name: "an approval smuggled with a recorded field", user: "approver", status: awaiting, change: func(r *v1alpha1.Remediation) {
			decided(v1alpha1.DecisionApprove, "")(r)
			r.Spec.IdempotencyKey = "other"
		}, wantFields: []string{"spec.idempotencyKey"}},
		{name: "cluster-admin writes status", user: "admin", status: awaiting, status2: true, change: func(r *v1alpha1.Remediation) {
			r.Status.Phase = v1alpha1.PhaseApproved
		}, wantFields: []string{"status"}, wantText: webhook.MsgControllerStatus},
		{name: "an editor labels a record", user: "editor", status: awaiting, change: func(r *v1alpha1.Remediation) {
			r.Labels = map[string]string{"triaged": "yes"}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := webhooktest.Record("team-a", "rem-"+string(rune('a'+i)))
			e.CreateRecord(t, r, tc.status)
			c := users[tc.user]
			if tc.first != nil {
				tc.first(r)
				require.NoError(t, approver.Update(ctx, r))
			}
			got := &v1alpha1.Remediation{}
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(r), got))
			tc.change(got)
			before := time.Now().Truncate(time.Second)
			var err error
			if tc.status2 {
				err = c.Status().Update(ctx, got)
			} else {
				err = c.Update(ctx, got)
			}
			if tc.forbidden {
				require.True(t, apierrors.IsForbidden(err), "want RBAC's 403, got %v", err)
				return
			}
			if tc.wantFields == nil {
				require.NoError(t, err)
				if got.Spec.Approval != nil {
					assert.Equal(t, tc.user, got.Spec.Approval.DecidedBy, "the decider is stamped from the request")
					require.NotNil(t, got.Spec.Approval.DecidedAt)
					assert.WithinRange(t, got.Spec.Approval.DecidedAt.Time, before, time.Now().Add(time.Second))
				}
				return
			}
			require.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
			var fields []string
			for _, cs := range causesOf(t, err) {
				fields = append(fields, cs.Field)
			}
			assert.ElementsMatch(t, tc.wantFields, fields, "%v", err)
			assert.Contains(t, err.Error(), tc.wantText)
			stored := &v1alpha1.Remediation{}
			require.NoError(t, e.Admin.Get(ctx, client.ObjectKeyFromObject(r), stored))
			assert.Equal(t, r.Spec, stored.Spec, "nothing changed")
			assert.Equal(t, tc.status.Phase, stored.Status.Phase)
		})
	}

	t.Run("only the controller creates records", func(t *testing.T) {
		for _, who := range []string{"admin", "approver"} {
			err := users[who].Create(ctx, webhooktest.Record("team-a", "forged-by-"+who))
			if who == "approver" {
				require.True(t, apierrors.IsForbidden(err), "approvers may not create (RBAC): %v", err)
				continue
			}
			require.True(t, apierrors.IsInvalid(err), "%v", err)
			assert.Equal(t, []cause{{metav1.CauseTypeForbidden, "spec"}}, causesOf(t, err))
			assert.Contains(t, err.Error(), webhook.MsgControllerCreates)
		}
		r := webhooktest.Record("team-a", "by-the-controller")
		require.NoError(t, e.Controller.Create(ctx, r))
		r.Status = webhooktest.Proposal()
		require.NoError(t, e.Controller.Status().Update(ctx, r), "the controller writes status")
	})

	t.Run("a concurrent second decision loses", func(t *testing.T) {
		r := e.CreateRecord(t, webhooktest.Record("team-a", "race"), awaiting)
		first, second := r.DeepCopy(), r.DeepCopy()
		decided(v1alpha1.DecisionApprove, "")(first)
		decided(v1alpha1.DecisionReject, "")(second)
		require.NoError(t, approver.Update(context.Background(), first))
		err := approver.Update(context.Background(), second)
		require.True(t, apierrors.IsConflict(err), "the stale decision conflicts: %v", err)
	})
}
