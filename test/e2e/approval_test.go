//go:build e2e

package e2e

import (
	"encoding/json"
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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// testApproval closes the manual-mode loop of docs/remediations.md on the
// local cluster: the crash loop's analysis (testCrashLoop) left a record
// awaiting approval in the workload's namespace; a user who may edit
// records but lacks the verb approve is refused by the webhook; a user
// bound to the chart's approver role approves with the kubectl plugin; the
// controller sends exactly one execute call with the record's session and
// records the result and the approver.
func (s *suite) testApproval(t *testing.T) {
	if s.external {
		t.Skip("needs the stub MCP server on this machine")
	}
	ctx := t.Context()
	var rem v1alpha1.Remediation
	require.Eventually(t, func() bool {
		var list v1alpha1.RemediationList
		if err := s.c.List(ctx, &list, client.InNamespace(s.workNS)); err != nil {
			return false
		}
		for _, r := range list.Items {
			if r.Spec.Policy.Name == "crashloops" && r.Status.Phase == v1alpha1.PhaseAwaitingApproval {
				rem = r
				return true
			}
		}
		return false
	}, 60*time.Second, 500*time.Millisecond, "no record awaiting approval for the crash loop's analysis")
	require.NotNil(t, rem.Status.Analysis)
	assert.NotEmpty(t, rem.Status.Analysis.RootCause, "the stub's analysis is recorded")
	require.NotNil(t, rem.Status.Proposal)
	require.NotEmpty(t, rem.Status.Proposal.Actions, "the stub's proposed actions are recorded")
	assert.Equal(t, "Pod", rem.Spec.Event.InvolvedObject.Kind)
	session := rem.Status.SessionID
	require.NotEmpty(t, session)

	approver := s.chartClusterRole(t, "-remediation-approver")
	s.bind(t, "e2e-approver", approver, "alice")
	editor := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-remediation-editor", Namespace: s.workNS},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"remediations"},
			Verbs: []string{"get", "list", "watch", "update", "patch"}}},
	}
	require.NoError(t, s.c.Create(ctx, editor))
	require.NoError(t, s.c.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-remediation-editor", Namespace: s.workNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: editor.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bob"}},
	}))

	executes := func() int {
		n := 0
		for _, r := range s.stub.Requests() {
			var body struct {
				SessionID     string `json:"sessionId"`
				ExecuteChoice int    `json:"executeChoice"`
			}
			if json.Unmarshal(r.Body, &body) == nil && body.ExecuteChoice != 0 && body.SessionID == session {
				n++
			}
		}
		return n
	}

	// RBAC bindings take effect asynchronously in the authorizer's cache:
	// await alice's list through the plugin before deciding.
	require.Eventually(t, func() bool {
		_, err := s.plugin(t, "alice", "list", "-n", s.workNS)
		return err == nil
	}, 30*time.Second, 500*time.Millisecond, "alice cannot list records")

	out, err := s.plugin(t, "bob", "approve", rem.Name, "-n", s.workNS)
	require.Error(t, err, "bob may edit records but lacks approve: %s", out)
	assert.Contains(t, out, "spec.approval.decision", "the webhook names the field")

	out, err = s.plugin(t, "alice", "approve", rem.Name, "-n", s.workNS, "--reason", "e2e")
	require.NoError(t, err, "%s", out)

	require.Eventually(t, func() bool {
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(&rem), &rem); err != nil {
			return false
		}
		return rem.Status.Phase == v1alpha1.PhaseSucceeded
	}, 60*time.Second, 500*time.Millisecond, "the approved record never succeeded: %+v; controller log: %s", &rem.Status, s.controllerLog())
	require.NotNil(t, rem.Spec.Approval)
	assert.Equal(t, "alice", rem.Spec.Approval.DecidedBy, "the approver's identity is recorded")
	require.NotNil(t, rem.Status.Execution)
	assert.NotEmpty(t, rem.Status.Execution.Results, "the execution's results are recorded")
	assert.Equal(t, 1, executes(), "exactly one execute call with the record's session")

	// A second decision is refused, and nothing more is executed.
	out, err = s.plugin(t, "alice", "reject", rem.Name, "-n", s.workNS)
	require.Error(t, err, "a decided record cannot be decided again: %s", out)
	assert.Equal(t, 1, executes())
}

// plugin runs the kubectl plugin as user (impersonated by the cluster's
// admin kubeconfig) and returns its combined output.
func (s *suite) plugin(t *testing.T, user string, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("PLUGIN_BIN")
	if bin == "" {
		bin = filepath.Join(s.root, "bin", "kubectl-dot_ai")
	}
	args = append(args, "--kubeconfig", s.kubeconfig, "--as", user)
	out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput()
	return string(out), err
}

// chartClusterRole is the name of the release's ClusterRole ending in suffix.
func (s *suite) chartClusterRole(t *testing.T, suffix string) string {
	t.Helper()
	var roles rbacv1.ClusterRoleList
	require.NoError(t, s.c.List(t.Context(), &roles, client.MatchingLabels{"app.kubernetes.io/instance": s.release}))
	for _, r := range roles.Items {
		if strings.HasSuffix(r.Name, suffix) {
			return r.Name
		}
	}
	require.FailNowf(t, "no ClusterRole", "release %s has no ClusterRole *%s", s.release, suffix)
	return ""
}

// bind binds the ClusterRole to user in the work namespace.
func (s *suite) bind(t *testing.T, name, clusterRole, user string) {
	t.Helper()
	require.NoError(t, s.c.Create(t.Context(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.workNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}))
}
