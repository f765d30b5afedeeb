package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/permissions"
	"dot-ai.io/controller/internal/testenv"
	"dot-ai.io/controller/internal/webhook/webhooktest"
)

// TestRemediationCommands runs list, describe, approve and reject as users
// with the chart's roles against a real apiserver that calls the Remediation
// webhooks, so every decision goes through admission as in a cluster.
func TestRemediationCommands(t *testing.T) {
	e := webhooktest.StartRemediationEnv(t, "team-a", "team-b")
	ctx := t.Context()
	dir := t.TempDir()
	kubeconfigs := map[string]string{}
	user := func(name, role, ns string) {
		_, kc := e.User(t, name, role, ns)
		kubeconfigs[name] = filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(kubeconfigs[name], kc, 0o600))
	}
	user("approver", permissions.RemediationApprover, "team-a")
	user("editor", webhooktest.RoleEditor, "team-a")
	user("viewer", permissions.RemediationViewer, "team-a")
	// viewer may list namespaces, so list -A can look one by one.
	require.NoError(t, e.Admin.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "ns-lister"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list"}}}}))
	require.NoError(t, e.Admin.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "viewer-ns-lister"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "ns-lister"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "viewer"}}}))
	admin := filepath.Join(dir, "admin")
	require.NoError(t, os.WriteFile(admin, e.Env.KubeConfig, 0o600))
	kubeconfigs["admin"] = admin

	awaiting := webhooktest.Proposal()
	expires := metav1.NewTime(time.Now().Add(23 * time.Hour))
	awaiting.ExpiresAt = &expires
	expired := webhooktest.Proposal()
	expired.Phase = v1alpha1.PhaseExpired
	succeeded := webhooktest.Proposal()
	succeeded.Phase = v1alpha1.PhaseSucceeded
	succeeded.Execution = &v1alpha1.RemediationExecution{ExecutedCommands: []string{"kubectl set env deployment/web DATABASE_URL=postgres://db:5432/app -n team-a"},
		Results:             []v1alpha1.RemediationResult{{Action: "Set the variable", Success: true, Output: "deployment.apps/web env updated"}},
		ValidationSucceeded: new(true), ValidationSummary: "the Pod runs"}
	for name, st := range map[string]v1alpha1.RemediationStatus{"open-1": awaiting, "open-2": awaiting, "open-3": awaiting, "open-4": awaiting,
		"gone": expired, "done": succeeded} {
		e.CreateRecord(t, webhooktest.Record("team-a", name), st)
	}
	e.CreateRecord(t, webhooktest.Record("team-b", "elsewhere"), awaiting)

	run := func(who string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		root := newRoot(genericclioptions.IOStreams{Out: &out, ErrOut: &errOut})
		root.SetArgs(append([]string{"--kubeconfig", kubeconfigs[who]}, args...))
		err := root.ExecuteContext(ctx)
		return out.String() + errOut.String(), err
	}

	t.Run("list", func(t *testing.T) {
		tests := []struct {
			name, who string
			args      []string
			want      []string // regexps
			not       []string
			wantErr   string
		}{
			{name: "open proposals in a namespace", who: "viewer", args: []string{"list", "-n", "team-a"},
				want: []string{`NAME\s+POLICY\s+PHASE\s+RISK\s+CONFIDENCE\s+OBJECT\s+AGE`, `open-1\s+crashes\s+AwaitingApproval\s+low\s+0\.92\s+Pod/web-5f6c7d8b9-aaaaa\s+\d+s`},
				not:  []string{"gone", "done", "NAMESPACE"}},
			{name: "every phase", who: "viewer", args: []string{"list", "-n", "team-a", "--all-phases"},
				want: []string{`gone\s+crashes\s+Expired`, `done\s+crashes\s+Succeeded`}},
			{name: "all namespaces the user may list", who: "viewer", args: []string{"list", "-A"},
				want: []string{`NAMESPACE\s+NAME`, `team-a\s+open-1`, `Not shown: namespaces where you may not list remediations: .*team-b`},
				not:  []string{"elsewhere"}},
			{name: "all namespaces for a cluster-wide reader", who: "admin", args: []string{"list", "-A"},
				want: []string{`team-a\s+open-1`, `team-b\s+elsewhere`}, not: []string{"Not shown"}},
			{name: "nothing to list", who: "admin", args: []string{"list", "-n", "dot-ai"}, want: []string{"No proposals awaiting a decision in namespace dot-ai"}},
			{name: "a namespace the user may not read", who: "approver", args: []string{"list", "-n", "team-b"}, wantErr: "you may not list remediations in namespace team-b"},
			{name: "all namespaces without any way to look", who: "approver", args: []string{"list", "-A"}, wantErr: "use -n NAMESPACE"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				out, err := run(tc.who, tc.args...)
				if tc.wantErr != "" {
					require.Error(t, err)
					assert.Contains(t, out+err.Error(), tc.wantErr)
					return
				}
				require.NoError(t, err, out)
				for _, w := range tc.want {
					assert.Regexp(t, w, out)
				}
				for _, n := range tc.not {
					assert.NotContains(t, out, n)
				}
			})
		}
	})

	t.Run("describe", func(t *testing.T) {
		out, err := run("viewer", "describe", "open-1", "-n", "team-a")
		require.NoError(t, err, out)
		for _, w := range []string{
			`Phase:\s+AwaitingApproval \(expires \S+, in 2[23]h\)`,
			`Policy:\s+dot-ai/crashes`,
			`Event:\s+BackOff on Pod/web-5f6c7d8b9-aaaaa \(web.1800a, count 3, 2026-11-29T22:00:00Z\)\n {13}Back-off restarting failed container web`,
			`Session:\s+rem_20261129T220000_0123456789abcdef`,
			`Root cause:\s+The container exits because DATABASE_URL is unset`,
			`Confidence:\s+0.92`,
			`- missing env var`,
			`Proposal \(risk low\): Set DATABASE_URL from the db Secret`,
			`1\. Set the variable \[risk low\]`,
			`\$ kubectl set env deployment/web DATABASE_URL=postgres://db:5432/app -n team-a`,
			`Why: the app reads it at start`,
			`Decision:\s+none yet\. The commands above run with dot-ai's privileges, once, if approved`,
			`kubectl dot-ai approve open-1 -n team-a`,
		} {
			assert.Regexp(t, w, out)
		}
		out, err = run("viewer", "describe", "done", "-n", "team-a")
		require.NoError(t, err, out)
		assert.Regexp(t, `Execution \(started -\):\n\s+\$ kubectl set env`, out)
		assert.Contains(t, out, "- ok: Set the variable\n    deployment.apps/web env updated")
		assert.Contains(t, out, "Validation succeeded: the Pod runs")

		_, err = run("viewer", "describe", "missing", "-n", "team-a")
		require.ErrorContains(t, err, `remediation "missing" not found in namespace team-a`)
		_, err = run("viewer", "describe", "-n", "team-a")
		require.ErrorIs(t, err, errNoName)
	})

	t.Run("decide", func(t *testing.T) {
		tests := []struct {
			name, who, verb, rec string
			args                 []string
			wantErr              string
			want                 *v1alpha1.RemediationApproval
		}{
			{name: "an editor without approve is denied by the webhook", who: "editor", verb: "approve", rec: "open-1",
				wantErr: `spec.approval.decision: Forbidden: you may not approve remediation "open-1"`},
			{name: "a viewer is denied by RBAC", who: "viewer", verb: "reject", rec: "open-1", wantErr: "you may not patch remediation team-a/open-1"},
			{name: "an approver approves", who: "approver", verb: "approve", rec: "open-1",
				want: &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionApprove, DecidedBy: "approver"}},
			{name: "a second approval", who: "approver", verb: "approve", rec: "open-1", wantErr: "was already decided: Approve by approver at"},
			{name: "an approver rejects with a reason", who: "approver", verb: "reject", rec: "open-2", args: []string{"--reason", "not during the freeze"},
				want: &v1alpha1.RemediationApproval{Decision: v1alpha1.DecisionReject, DecidedBy: "approver", Reason: "not during the freeze"}},
			{name: "an Expired record", who: "approver", verb: "approve", rec: "gone", wantErr: "is Expired: only a proposal awaiting approval can be decided"},
			{name: "a record in another namespace", who: "approver", verb: "approve", rec: "elsewhere", args: []string{"-n", "team-b"}, wantErr: "you may not read"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				args := append([]string{tc.verb, tc.rec}, tc.args...)
				if len(tc.args) == 0 || tc.args[0] != "-n" {
					args = append(args, "-n", "team-a")
				}
				before := time.Now().Truncate(time.Second)
				out, err := run(tc.who, args...)
				if tc.wantErr != "" {
					require.Error(t, err, out)
					assert.Contains(t, err.Error(), tc.wantErr)
					return
				}
				require.NoError(t, err, out)
				assert.Contains(t, out, "remediation team-a/"+tc.rec+": "+pastTense(tc.want.Decision)+" by approver at ")
				got := &v1alpha1.Remediation{}
				require.NoError(t, e.Admin.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: tc.rec}, got))
				require.NotNil(t, got.Spec.Approval)
				require.NotNil(t, got.Spec.Approval.DecidedAt)
				assert.WithinRange(t, got.Spec.Approval.DecidedAt.Time, before, time.Now().Add(time.Second))
				got.Spec.Approval.DecidedAt = nil
				assert.Equal(t, tc.want, got.Spec.Approval)
			})
		}
	})

	t.Run("kubectl explain remediation.status reads well", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, filepath.Join(testenv.Root(), "bin", "kubectl"), "--kubeconfig", admin,
			"explain", "remediation.status").CombinedOutput()
		require.NoError(t, err, "%s", out)
		for _, w := range []string{
			"status is what happened, written only by the controller",
			"phase is where the record is in its life",
			"sessionId is dot-ai's remediation session",
			"expiresAt is when an undecided proposal becomes Expired",
		} {
			assert.Contains(t, strings.Join(strings.Fields(string(out)), " "), w)
		}
	})

	t.Run("a decision taken meanwhile conflicts", func(t *testing.T) {
		s := &session{c: e.Admin, namespace: "team-a"}
		r, err := getRecord(ctx, s, "open-3")
		require.NoError(t, err)
		_, err = run("approver", "reject", "open-3", "-n", "team-a")
		require.NoError(t, err)
		// A stale read: the server must refuse the second decision.
		stale := &session{c: staleReader{Client: e.Admin, rec: r}, namespace: "team-a"}
		err = decide(ctx, stale, &bytes.Buffer{}, "open-3", v1alpha1.DecisionApprove, "")
		require.ErrorContains(t, err, "changed while deciding")
	})
}

// staleReader answers Get with rec as it was read earlier.
type staleReader struct {
	client.Client
	rec *v1alpha1.Remediation
}

func (s staleReader) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	s.rec.DeepCopyInto(obj.(*v1alpha1.Remediation))
	return nil
}
