package webhook_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/admitted"
	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/policy/policytest"
	"dot-ai.io/controller/internal/testenv"
)

// Secret values the access tests create; no message may contain them.
const (
	secretValueA = "s3cr3t-value-a"
	secretValueX = "s3cr3t-value-x"
)

// accessRoles are ClusterRoles, bound per namespace (RoleBinding) or
// cluster-wide (ClusterRoleBinding) to give the test users exactly some
// rights.
func accessRoles() []*rbacv1.ClusterRole {
	reader := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"list"}},
		{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods"}, Verbs: []string{"get"}},
	}
	for g, rs := range enricher.GatheredResources {
		reader = append(reader, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: rs, Verbs: []string{"get"}})
	}
	role := func(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	}
	return []*rbacv1.ClusterRole{
		role("policy-writer", rbacv1.PolicyRule{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"remediationpolicies"},
			Verbs: []string{"get", "create", "update"}}),
		role("secret-a-reader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"a"}, Verbs: []string{"get"}}),
		role("context-reader", reader...),
		role("log-reader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}}),
	}
}

// grant binds ClusterRole role to a subject in namespace ns, or
// cluster-wide when ns is "".
type grant struct {
	role, ns string
	subject  rbacv1.Subject
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func groupSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

// accessUser is a test user authenticated by a client certificate (name and
// groups), holding exactly its grants.
type accessUser struct {
	name   string
	groups []string
	grants []grant
}

func accessUsers() []accessUser {
	tenant := func(name string, groups ...string) accessUser {
		u := userSubject(name)
		return accessUser{name: name, groups: groups, grants: []grant{
			{"policy-writer", "team-a", u}, {"secret-a-reader", "team-a", u}, {"context-reader", "team-a", u},
		}}
	}
	platform := func(name string, ns ...string) accessUser {
		u := userSubject(name)
		gs := []grant{{"policy-writer", "dot-ai", u}, {"secret-a-reader", "dot-ai", u}}
		for _, n := range ns {
			gs = append(gs, grant{"context-reader", n, u}, grant{"log-reader", n, u})
		}
		return accessUser{name: name, grants: gs}
	}
	member := tenant("log-group-member", "log-readers")
	// pods/log only through the group: the reviews must carry groups.
	member.grants = append(member.grants, grant{"log-reader", "team-a", groupSubject("log-readers")})
	return []accessUser{
		tenant("tenant", "tenants"),
		member,
		platform("platform-ns", "dot-ai"),
		platform("platform-wide", ""),
	}
}

// setUpAccess creates the Secrets, roles and bindings, waits until the
// apiserver's RBAC authorizer honours every grant, and returns a client per
// user.
func setUpAccess(t *testing.T, e *webhookEnv) map[string]client.Client {
	ctx := t.Context()
	c := e.client
	for _, ns := range []string{"team-a", "dot-ai"} {
		for name, value := range map[string]string{"a": secretValueA, "x": secretValueX} {
			require.NoError(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				StringData: map[string]string{"token": value}}))
		}
	}
	for _, r := range accessRoles() {
		require.NoError(t, c.Create(ctx, r))
	}
	clients := map[string]client.Client{}
	for _, u := range accessUsers() {
		for i, g := range u.grants {
			meta := metav1.ObjectMeta{Name: u.name + "-" + g.role + "-" + string(rune('a'+i)), Namespace: g.ns}
			ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: g.role}
			var b client.Object = &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: []rbacv1.Subject{g.subject}}
			if g.ns == "" {
				b = &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: []rbacv1.Subject{g.subject}}
			}
			require.NoError(t, c.Create(ctx, b))
		}
		au, err := e.env.AddUser(envtest.User{Name: u.name, Groups: u.groups}, e.admin)
		require.NoError(t, err)
		uc, err := client.New(au.Config(), client.Options{Scheme: testenv.Scheme()})
		require.NoError(t, err)
		clients[u.name] = uc
		// The RBAC authorizer reads bindings through an informer: wait
		// until the last grant of each user counts.
		last := u.grants[len(u.grants)-1]
		waitAllowed(t, c, u, authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Subresource: subresourceOf(last.role), Namespace: last.ns})
	}
	return clients
}

func subresourceOf(role string) string {
	if role == "log-reader" {
		return "log"
	}
	return ""
}

func waitAllowed(t *testing.T, c client.Client, u accessUser, attrs authorizationv1.ResourceAttributes) {
	t.Helper()
	require.Eventually(t, func() bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.name, Groups: u.groups, ResourceAttributes: &attrs}}
		return c.Create(context.Background(), sar) == nil && sar.Status.Allowed
	}, 30*time.Second, 20*time.Millisecond, "RBAC grants of %s not in force", u.name)
}

// testAccessReviews: decision 20 (docs/design/decisions.md#d20) against a real apiserver with RBAC-limited
// users. The webhook asks, as the requesting user, for read access to what
// the policy would send; the ledger records exactly the admitted policies,
// with the spec as stored.
func testAccessReviews(t *testing.T, e *webhookEnv, ledger *admitted.Memory) {
	clients := setUpAccess(t, e)
	secretRef := func(name string) *v1alpha1.SecretKeyReference {
		return &v1alpha1.SecretKeyReference{Name: name, Key: "token"}
	}
	logs := func(include bool) *v1alpha1.ContextGathering {
		return &v1alpha1.ContextGathering{IncludeLogs: new(include)}
	}
	wide := &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{"tier": "prod"}}
	cases := []struct {
		name string
		user string
		ns   string
		spec v1alpha1.RemediationPolicySpec
		// wantFields are the refused fields (a set); nil means admitted.
		wantFields []string
		wantText   []string
	}{
		{
			name: "a Secret the user may not read is refused, whatever the endpoint",
			user: "tenant", ns: "team-a",
			spec:       v1alpha1.RemediationPolicySpec{McpAuthSecretRef: secretRef("x")},
			wantFields: []string{"spec.mcpAuthSecretRef.name"},
			wantText:   []string{`you may not get secrets "x" in namespace "team-a"`, "Bearer token"},
		},
		{
			name: "a Secret the user may read is admitted",
			user: "tenant", ns: "team-a",
			spec: v1alpha1.RemediationPolicySpec{McpAuthSecretRef: secretRef("a")},
		},
		{
			name: "logs to the policy's own endpoint without get pods/log are refused",
			user: "tenant", ns: "team-a",
			spec:       v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.OtherEndpoint, McpAuthSecretRef: secretRef("a"), ContextGathering: logs(true)},
			wantFields: []string{"spec.contextGathering.includeLogs"},
			wantText:   []string{`you may not get pods/log in namespace "team-a"`, "exports container logs"},
		},
		{
			name: "every missing access is reported at once",
			user: "tenant", ns: "team-a",
			spec:       v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.OtherEndpoint, McpAuthSecretRef: secretRef("x"), ContextGathering: logs(true)},
			wantFields: []string{"spec.contextGathering.includeLogs", "spec.mcpAuthSecretRef.name"},
		},
		{
			name: "the same user may send logs to the installation's endpoint",
			user: "tenant", ns: "team-a",
			spec: v1alpha1.RemediationPolicySpec{ContextGathering: logs(true)},
		},
		{
			name: "the same user may use its own endpoint without logs",
			user: "tenant", ns: "team-a",
			spec: v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.OtherEndpoint, McpAuthSecretRef: secretRef("a"), ContextGathering: logs(false)},
		},
		{
			name: "pods/log granted only to a group of the user counts",
			user: "log-group-member", ns: "team-a",
			spec: v1alpha1.RemediationPolicySpec{McpEndpoint: policytest.OtherEndpoint, McpAuthSecretRef: secretRef("a"), ContextGathering: logs(true)},
		},
		{
			name: "a namespaceSelector policy with its own endpoint needs the rights in all namespaces",
			user: "platform-ns", ns: "dot-ai",
			spec: v1alpha1.RemediationPolicySpec{NamespaceSelector: wide, McpEndpoint: policytest.OtherEndpoint,
				McpAuthSecretRef: secretRef("a"), ContextGathering: logs(true)},
			// includeMetrics comes from the installation's defaults.
			wantFields: []string{"spec.contextGathering.includeLogs", "spec.contextGathering.includeMetrics", "spec.mcpEndpoint"},
			wantText:   []string{"you may not list events in all namespaces", "you may not get pods/log in all namespaces", "namespaces labelled later join it"},
		},
		{
			name: "a namespaceSelector policy with its own endpoint is admitted with cluster-wide rights",
			user: "platform-wide", ns: "dot-ai",
			spec: v1alpha1.RemediationPolicySpec{NamespaceSelector: wide, McpEndpoint: policytest.OtherEndpoint,
				McpAuthSecretRef: secretRef("a"), ContextGathering: logs(true)},
		},
		{
			name: "a namespaceSelector policy with the installation's endpoint needs no cluster-wide rights",
			user: "platform-ns", ns: "dot-ai",
			spec: v1alpha1.RemediationPolicySpec{NamespaceSelector: wide, ContextGathering: logs(true)},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			p := newPolicy(tc.ns, "access-"+string(rune('a'+i)))
			p.Spec.McpEndpoint, p.Spec.McpAuthSecretRef = tc.spec.McpEndpoint, tc.spec.McpAuthSecretRef
			p.Spec.ContextGathering, p.Spec.NamespaceSelector = tc.spec.ContextGathering, tc.spec.NamespaceSelector
			err := clients[tc.user].Create(ctx, p)
			if tc.wantFields == nil {
				require.NoError(t, err)
				stored := &v1alpha1.RemediationPolicy{}
				require.NoError(t, e.client.Get(ctx, client.ObjectKeyFromObject(p), stored))
				ok, _ := ledger.Admitted(ctx, stored)
				assert.True(t, ok, "the stored spec (after defaulting) is the one recorded")
				return
			}
			require.Error(t, err)
			assert.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
			var fields []string
			for _, c := range causesOf(t, err) {
				assert.Equal(t, metav1.CauseType(field.ErrorTypeForbidden), c.Type)
				fields = append(fields, c.Field)
			}
			slices.Sort(fields)
			assert.Equal(t, tc.wantFields, slices.Compact(fields))
			for _, text := range tc.wantText {
				assert.Contains(t, err.Error(), text)
			}
			for _, secret := range []string{policytest.OtherEndpoint, "127.0.0.2", secretValueA, secretValueX} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}

	t.Run("a dry run is reviewed but not recorded", func(t *testing.T) {
		ctx := t.Context()
		p := newPolicy("team-a", "dry-run")
		p.Spec.McpAuthSecretRef = secretRef("x")
		err := clients["tenant"].Create(ctx, p.DeepCopy(), client.DryRunAll)
		require.Error(t, err)
		assert.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)

		p.Spec.McpAuthSecretRef = secretRef("a")
		require.NoError(t, clients["tenant"].Create(ctx, p, client.DryRunAll))
		assert.NotEmpty(t, p.UID, "the dry-run answer carries the object as it would be stored")
		ok, _ := ledger.Admitted(ctx, p)
		assert.False(t, ok)
	})

	t.Run("an update keeping the spec is never refused; a changed one is checked", func(t *testing.T) {
		ctx := t.Context()
		// Written by the admin, who may read everything.
		p := newPolicy("team-a", "admin-owned")
		p.Spec.McpEndpoint, p.Spec.McpAuthSecretRef, p.Spec.ContextGathering = policytest.OtherEndpoint, secretRef("x"), logs(true)
		require.NoError(t, e.client.Create(ctx, p))
		tenant := clients["tenant"]
		require.NoError(t, tenant.Get(ctx, client.ObjectKeyFromObject(p), p))
		p.Labels = map[string]string{"relabelled": "by-tenant"}
		require.NoError(t, tenant.Update(ctx, p), "relabelling")
		p.Spec.McpTool = "other"
		err := tenant.Update(ctx, p)
		require.Error(t, err, "a spec change by a user who may not read what it sends")
		assert.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
	})
}
