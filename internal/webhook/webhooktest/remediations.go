package webhooktest

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/permissions"
	"dot-ai.io/controller/internal/testenv"
	"dot-ai.io/controller/internal/webhook"
)

// ControllerUser is the controller's user in the Remediation tests, as the
// chart's ServiceAccount in release namespace dot-ai authenticates.
const ControllerUser = "system:serviceaccount:dot-ai:dot-ai-controller"

// RoleEditor is a ClusterRole the Remediation tests create beside the
// chart's: every right on remediations a namespace editor could be given
// (update and patch included) except the verb approve.
const RoleEditor = "remediation-editor"

// RemediationEnv is a real apiserver whose Remediation webhook
// configurations (as the chart renders them) call a manager serving
// webhook.RemediationWebhook over TLS on loopback.
type RemediationEnv struct {
	Env *testenv.Env
	// Admin is the control plane's admin (system:masters, not the
	// controller): the webhook judges its requests like anyone's.
	Admin client.Client
	// Controller is authenticated as ControllerUser.
	Controller client.Client
	// Roles maps a permissions.UserRoles suffix (and RoleEditor) to the
	// ClusterRole created for it.
	Roles map[string]string
}

// StartRemediationEnv starts the environment for tb and stops it when tb
// ends. namespaces are created.
func StartRemediationEnv(tb testing.TB, namespaces ...string) *RemediationEnv {
	tb.Helper()
	logf.SetLogger(logr.Discard())
	opts := testenv.WithRemediationWebhooks(nil, webhook.RemediationMutatePath, webhook.RemediationValidatePath, ControllerUser)
	env := testenv.Start(tb, testenv.Options{Webhooks: opts})
	StartWebhookManager(tb, env, env.Config, []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
		(&webhook.RemediationWebhook{ControllerUsername: ControllerUser}).SetupWebhookWithManager)
	ctx := context.Background()

	e := &RemediationEnv{Env: env, Admin: env.Client, Roles: map[string]string{}}
	e.Controller = e.userClient(tb, envtest.User{Name: ControllerUser, Groups: []string{"system:masters"}})
	for _, ns := range append([]string{"dot-ai"}, namespaces...) {
		require.NoError(tb, e.Admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	roles := map[string][]rbacv1.PolicyRule{RoleEditor: {{APIGroups: []string{v1alpha1.GroupVersion.Group},
		Resources: []string{v1alpha1.RemediationResource}, Verbs: []string{"get", "list", "watch", "update", "patch"}}}}
	for _, r := range permissions.UserRoles() {
		roles[r.Suffix] = r.Rules
	}
	for name, rules := range roles {
		require.NoError(tb, e.Admin.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "dot-ai-controller-" + name}, Rules: rules}))
		e.Roles[name] = "dot-ai-controller-" + name
	}
	return e
}

func (e *RemediationEnv) userClient(tb testing.TB, u envtest.User) client.Client {
	tb.Helper()
	au, err := e.Env.AddUser(u, e.Env.Config)
	require.NoError(tb, err)
	c, err := client.New(au.Config(), client.Options{Scheme: testenv.Scheme()})
	require.NoError(tb, err)
	return c
}

// User returns a client for user name, who holds role (a key of Roles) in
// namespace ns, once the authorizer honours the grant. It also returns the
// user's kubeconfig (the plugin's tests run with it).
func (e *RemediationEnv) User(tb testing.TB, name, role, ns string) (client.Client, []byte) {
	tb.Helper()
	ctx := context.Background()
	require.NoError(tb, e.Admin.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-" + role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: e.Roles[role]},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}},
	}))
	au, err := e.Env.AddUser(envtest.User{Name: name}, e.Env.Config)
	require.NoError(tb, err)
	c, err := client.New(au.Config(), client.Options{Scheme: testenv.Scheme()})
	require.NoError(tb, err)
	// The RBAC authorizer reads bindings through an informer.
	require.Eventually(tb, func() bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: name,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Group: v1alpha1.GroupVersion.Group, Resource: v1alpha1.RemediationResource}}}
		return e.Admin.Create(ctx, sar) == nil && sar.Status.Allowed
	}, 30*time.Second, 20*time.Millisecond, "RBAC grants of %s not in force", name)
	kubeconfig, err := au.KubeConfig()
	require.NoError(tb, err)
	return c, kubeconfig
}

// Record is a valid record as the controller creates it, before its status.
func Record(ns, name string) *v1alpha1.Remediation {
	t := metav1.NewTime(time.Date(2026, 11, 29, 22, 0, 0, 0, time.UTC))
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RemediationSpec{
			Policy: v1alpha1.RemediationPolicyReference{Namespace: "dot-ai", Name: "crashes", UID: "6f1c2d3e-0000-4000-8000-000000000001"},
			Event: v1alpha1.RemediationEvent{Name: "web.1800a", UID: "6f1c2d3e-0000-4000-8000-000000000002", Reason: "BackOff",
				Message: "Back-off restarting failed container web in pod web-5f6c7d8b9-aaaaa", Count: 3, Time: &t,
				InvolvedObject: v1alpha1.RemediationObjectReference{Kind: "Pod", Name: "web-5f6c7d8b9-aaaaa", Namespace: ns}},
			Mode:           v1alpha1.ModeManual,
			McpURL:         "http://127.0.0.1:3456/api/v1/tools/remediate",
			IdempotencyKey: "k-" + name,
		},
	}
}

// Proposal is the status of a record awaiting a decision.
func Proposal() v1alpha1.RemediationStatus {
	return v1alpha1.RemediationStatus{
		Phase:     v1alpha1.PhaseAwaitingApproval,
		SessionID: "rem_20261129T220000_0123456789abcdef",
		McpStatus: "awaiting_user_approval",
		Analysis: &v1alpha1.RemediationAnalysis{RootCause: "The container exits because DATABASE_URL is unset",
			Confidence: new(0.92), Factors: []string{"exit code 1", "missing env var"}},
		Proposal: &v1alpha1.RemediationProposal{Summary: "Set DATABASE_URL from the db Secret", Risk: v1alpha1.RiskLow,
			Actions: []v1alpha1.RemediationAction{{Description: "Set the variable", Risk: v1alpha1.RiskLow,
				Command: "kubectl set env deployment/web DATABASE_URL=postgres://db:5432/app -n team-a", Rationale: "the app reads it at start"}}},
	}
}

// CreateRecord creates r as the controller and sets its status.
func (e *RemediationEnv) CreateRecord(tb testing.TB, r *v1alpha1.Remediation, status v1alpha1.RemediationStatus) *v1alpha1.Remediation {
	tb.Helper()
	ctx := context.Background()
	require.NoError(tb, e.Controller.Create(ctx, r))
	r.Status = status
	require.NoError(tb, e.Controller.Status().Update(ctx, r))
	return r
}

// StartWebhookManager starts a manager on cfg that serves the webhooks setup
// registers over TLS on env's webhook port (tlsOpts adjust the server), waits
// until it serves, and stops it when tb ends.
func StartWebhookManager(tb testing.TB, env *testenv.Env, cfg *rest.Config, tlsOpts []func(*tls.Config), setup func(ctrl.Manager) error) {
	tb.Helper()
	wo := env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir, TLSOpts: tlsOpts,
		}),
	})
	require.NoError(tb, err)
	require.NoError(tb, setup(mgr))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Manager stopped with error: %v", err)
		}
	})
	require.Eventually(tb, func() bool {
		return mgr.GetWebhookServer().StartedChecker()(nil) == nil
	}, 30*time.Second, 50*time.Millisecond, "webhook server did not start")
}
