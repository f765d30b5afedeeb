package helm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/internal/permissions"
)

// otherNamespace holds none of the chart's bindings.
const otherNamespace = "canitable-other"

// TestCanITable installs the chart's ServiceAccount, roles and bindings in a
// real kube-apiserver (RBAC authorizer) and asks it, with
// SubjectAccessReviews for that ServiceAccount, every question of a can-i
// table derived from internal/permissions (each permission allowed where it
// holds and denied where it does not) and permissions.Forbidden (denied).
func TestCanITable(t *testing.T) {
	env := apiServer(t)
	c := env.Client
	sar := sarClient(t, env.Config)
	require.NoError(t, client.IgnoreAlreadyExists(c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: otherNamespace}})))

	for i, tc := range rbacCases {
		t.Run(tc.name, func(t *testing.T) {
			ns, rel := fmt.Sprintf("canitable-%d", i), fmt.Sprintf("ci%d", i)
			r := mustRender(t, tc.values, renderOpts{releaseName: rel, namespace: ns})
			user := installRBAC(t, c, r, ns)
			want, conflicts := table(permissions.Controller(tc.opts), ns)
			require.Empty(t, conflicts)
			t.Logf("%d questions, %d allowed", len(want), countTrue(want))
			assert.Empty(t, askAll(t, sar, user, want))
		})
	}

	t.Run("the table can fail", func(t *testing.T) {
		ns := "canitable-broken"
		r := mustRender(t, nil, renderOpts{releaseName: "cibroken", namespace: ns})
		// One extra rule (ConfigMap writes in the release namespace) and one
		// missing (pods/log).
		role := r.find(t, "Role", "cibroken-dot-ai-controller")
		rules, _, _ := unstructuredSlice(role.Object, "rules")
		role.Object["rules"] = append(slices.Clone(rules), map[string]any{"apiGroups": []any{""}, "resources": []any{"configmaps"}, "verbs": []any{"create"}})
		cr := r.find(t, "ClusterRole", "cibroken-dot-ai-controller")
		crRules, _, _ := unstructuredSlice(cr.Object, "rules")
		cr.Object["rules"] = slices.DeleteFunc(slices.Clone(crRules), func(rl any) bool {
			return slices.Contains(rl.(map[string]any)["resources"].([]any), "pods/log")
		})
		user := installRBAC(t, c, r, ns)
		want, _ := table(permissions.Controller(permissions.ChartDefaults()), ns)
		got := askAll(t, sar, user, want)
		assert.Contains(t, got, "want denied: create configmaps in canitable-broken")
		assert.Contains(t, got, "want allowed: get pods/log in all namespaces")
	})
}

// table is the can-i table for perms: permissions.Expected plus
// permissions.Forbidden (denied). conflicts are forbidden requests the list
// allows.
func table(perms []permissions.Permission, ns string) (map[permissions.Request]bool, []string) {
	want := permissions.Expected(perms, ns, otherNamespace)
	var conflicts []string
	for _, r := range permissions.Forbidden(ns, otherNamespace) {
		if want[r] {
			conflicts = append(conflicts, r.String())
		}
		want[r] = false
	}
	return want, conflicts
}

func countTrue(m map[permissions.Request]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// sarClient is an unthrottled clientset: the table is about 1,000 questions.
func sarClient(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cs
}

// installRBAC creates the rendered ServiceAccount, roles and bindings (not
// hooks' objects) in namespace, deletes them when t ends, and returns the
// ServiceAccount as the authorizer sees it.
func installRBAC(t *testing.T, c client.Client, r *rendered, ns string) authorizationv1.SubjectAccessReviewSpec {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	kinds := []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
	var created []*unstructured.Unstructured
	for _, o := range r.objects {
		if !slices.Contains(kinds, o.GetKind()) || o.GetAnnotations()["helm.sh/hook"] != "" {
			continue
		}
		obj := o.DeepCopy()
		require.NoError(t, c.Create(ctx, obj), "%s %s", o.GetKind(), o.GetName())
		created = append(created, obj)
	}
	require.Len(t, created, 8, "ServiceAccount, four ClusterRoles (the controller's, metrics reader, remediation viewer and approver), ClusterRoleBinding, Role, RoleBinding")
	t.Cleanup(func() {
		for _, o := range created {
			if err := client.IgnoreNotFound(c.Delete(context.Background(), o)); err != nil {
				t.Logf("Deleting %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	})
	sa := deployment(t, r).Spec.Template.Spec.ServiceAccountName
	return authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + ns + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
}

// askAll asks every question once the authorizer allows every allowed one
// (its caches catch up with the new roles), and returns the wrong answers.
func askAll(t *testing.T, cs kubernetes.Interface, user authorizationv1.SubjectAccessReviewSpec, want map[permissions.Request]bool) []string {
	t.Helper()
	var allowed []permissions.Request
	for r, ok := range want {
		if ok {
			allowed = append(allowed, r)
		}
	}
	// Await the roles: one question each binding grants answers yes (the
	// leader Lease from the Role, Event reads from the ClusterRole). Other
	// allowed questions may never answer yes when the table is meant to
	// fail, so they cannot be the probe.
	var probe []permissions.Request
	for _, r := range allowed {
		if (r.Resource == "leases" && r.Verb == "get") || (r.Resource == "events" && r.Group == "" && r.Verb == "list") {
			probe = append(probe, r)
		}
	}
	require.NotEmpty(t, probe, "the table asks about the Lease and Event reads")
	require.Eventually(t, func() bool {
		for _, r := range probe {
			if !ask(t, cs, user, r) {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "the ServiceAccount's roles never took effect")

	reqs := make(chan permissions.Request)
	var mu sync.Mutex
	var wrong []string
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for r := range reqs {
				if got := ask(t, cs, user, r); got != want[r] {
					mu.Lock()
					wrong = append(wrong, fmt.Sprintf("want %s: %s", map[bool]string{true: "allowed", false: "denied"}[want[r]], r))
					mu.Unlock()
				}
			}
		})
	}
	for r := range want {
		reqs <- r
	}
	close(reqs)
	wg.Wait()
	slices.Sort(wrong)
	return wrong
}

func ask(t *testing.T, cs kubernetes.Interface, user authorizationv1.SubjectAccessReviewSpec, r permissions.Request) bool {
	resource, sub, _ := strings.Cut(r.Resource, "/")
	spec := user
	spec.ResourceAttributes = &authorizationv1.ResourceAttributes{
		Namespace: r.Namespace, Verb: r.Verb, Group: r.Group, Resource: resource, Subresource: sub, Name: r.Name,
	}
	res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if !assert.NoError(t, err, r.String()) {
		return false
	}
	return res.Status.Allowed
}
