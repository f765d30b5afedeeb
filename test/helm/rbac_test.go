package helm

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	rbacv1 "k8s.io/api/rbac/v1"

	"dot-ai.io/controller/internal/permissions"
)

// grant is one verb on one resource (and name) in one scope: rules and
// permissions are both expanded to grants, so grouping does not matter.
type grant struct {
	scope                 permissions.Scope
	group, resource, verb string
	name                  string
}

func (g grant) String() string {
	return fmt.Sprintf("%s %s %s/%s name=%q", g.scope, g.verb, g.group, g.resource, g.name)
}

func listGrants(perms []permissions.Permission) map[grant]bool {
	out := map[grant]bool{}
	for _, p := range perms {
		for _, v := range p.Verbs {
			for _, n := range namesOrAny(p.ResourceNames) {
				out[grant{p.Scope, p.Group, p.Resource, v, n}] = true
			}
		}
	}
	return out
}

func namesOrAny(names []string) []string {
	if len(names) == 0 {
		return []string{""}
	}
	return names
}

// chartGrants are what the rendered chart grants its ServiceAccount in
// namespace: the rules of every role a rendered binding gives it. A
// wildcard, a non-resource URL, a binding to a role the chart does not
// render, or a RoleBinding outside the release namespace is a problem.
func chartGrants(t *testing.T, r *rendered, namespace string) (map[grant]bool, []string) {
	t.Helper()
	subject := rbacv1.Subject{Kind: "ServiceAccount", Name: deployment(t, r).Spec.Template.Spec.ServiceAccountName, Namespace: namespace}
	roles := map[string][]rbacv1.PolicyRule{}
	for _, o := range r.objects {
		switch o.GetKind() {
		case "ClusterRole":
			roles["ClusterRole/"+o.GetName()] = into[rbacv1.ClusterRole](t, o).Rules
		case "Role":
			roles["Role/"+o.GetNamespace()+"/"+o.GetName()] = into[rbacv1.Role](t, o).Rules
		}
	}
	out := map[grant]bool{}
	var problems []string
	addRules := func(binding string, scope permissions.Scope, rules []rbacv1.PolicyRule, ok bool) {
		if !ok {
			problems = append(problems, binding+" binds a role the chart does not render")
		}
		for _, rl := range rules {
			if len(rl.NonResourceURLs) > 0 {
				problems = append(problems, fmt.Sprintf("%s grants non-resource URLs %v", binding, rl.NonResourceURLs))
			}
			for _, g := range rl.APIGroups {
				for _, res := range rl.Resources {
					for _, v := range rl.Verbs {
						if g == "*" || res == "*" || v == "*" {
							problems = append(problems, fmt.Sprintf("%s grants a wildcard: %s %s/%s", binding, v, g, res))
						}
						for _, n := range namesOrAny(rl.ResourceNames) {
							out[grant{scope, g, res, v, n}] = true
						}
					}
				}
			}
		}
	}
	for _, o := range r.objects {
		switch o.GetKind() {
		case "ClusterRoleBinding":
			b := into[rbacv1.ClusterRoleBinding](t, o)
			if slices.Contains(b.Subjects, subject) {
				rules, ok := roles[b.RoleRef.Kind+"/"+b.RoleRef.Name]
				addRules("ClusterRoleBinding "+b.Name, permissions.ClusterWide, rules, ok && b.RoleRef.Kind == "ClusterRole")
			}
		case "RoleBinding":
			b := into[rbacv1.RoleBinding](t, o)
			if !slices.Contains(b.Subjects, subject) {
				continue
			}
			if b.Namespace != namespace {
				problems = append(problems, "RoleBinding "+b.Namespace+"/"+b.Name+" is outside the release namespace")
			}
			key := b.RoleRef.Kind + "/" + b.RoleRef.Name
			if b.RoleRef.Kind == "Role" {
				key = "Role/" + b.Namespace + "/" + b.RoleRef.Name
			}
			rules, ok := roles[key]
			addRules("RoleBinding "+b.Name, permissions.ReleaseNamespace, rules, ok)
		}
	}
	return out, problems
}

// diffGrants lists what one side grants and the other does not.
func diffGrants(chart, list map[grant]bool) []string {
	var out []string
	for g := range chart {
		if !list[g] {
			out = append(out, "chart grants, list lacks: "+g.String())
		}
	}
	for g := range list {
		if !chart[g] {
			out = append(out, "list needs, chart lacks: "+g.String())
		}
	}
	slices.Sort(out)
	return out
}

// rbacCase is one combination of the chart's RBAC values and the
// permissions.Options it means.
type rbacCase struct {
	name   string
	values map[string]any
	opts   permissions.Options
}

var rbacCases = []rbacCase{
	{name: "default", opts: permissions.ChartDefaults()},
	{name: "secrets restricted", values: map[string]any{"rbac": map[string]any{"secrets": map[string]any{"resourceNames": []any{"a", "b"}}}},
		opts: permissions.Options{Secrets: true, SecretNames: []string{"a", "b"}, MetricsAPI: true}},
	{name: "secrets and metrics API off", values: map[string]any{"rbac": map[string]any{"secrets": map[string]any{"enabled": false}, "metricsAPI": false}}},
}

// TestRBAC: the chart grants its ServiceAccount exactly internal/permissions'
// list, bound to the chart's own ServiceAccount in the release namespace.
func TestRBAC(t *testing.T) {
	for _, tc := range rbacCases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.values, renderOpts{})
			got, problems := chartGrants(t, r, releaseNamespace)
			assert.Empty(t, problems)
			assert.Empty(t, diffGrants(got, listGrants(permissions.Controller(tc.opts))))

			role := into[rbacv1.Role](t, r.find(t, "Role", fullname))
			assert.Equal(t, releaseNamespace, role.Namespace)
			crb := into[rbacv1.ClusterRoleBinding](t, r.find(t, "ClusterRoleBinding", fullname))
			rb := into[rbacv1.RoleBinding](t, r.find(t, "RoleBinding", fullname))
			sa := []rbacv1.Subject{{Kind: "ServiceAccount", Name: fullname, Namespace: releaseNamespace}}
			assert.Equal(t, sa, crb.Subjects)
			assert.Equal(t, sa, rb.Subjects)
			assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: fullname}, crb.RoleRef)
			assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: fullname}, rb.RoleRef)
			r.find(t, "ServiceAccount", fullname)
		})
	}
	t.Run("the comparison can fail", func(t *testing.T) {
		r := mustRender(t, nil, renderOpts{})
		list := listGrants(permissions.Controller(permissions.ChartDefaults()))
		role := r.find(t, "Role", fullname)
		rules, _, _ := unstructuredSlice(role.Object, "rules")
		extra := append(slices.Clone(rules), map[string]any{"apiGroups": []any{""}, "resources": []any{"configmaps"}, "verbs": []any{"create"}})
		role.Object["rules"] = extra
		got, _ := chartGrants(t, r, releaseNamespace)
		assert.Equal(t, []string{"chart grants, list lacks: release namespace create /configmaps name=\"\""}, diffGrants(got, list))

		role.Object["rules"] = slices.DeleteFunc(slices.Clone(rules), func(rl any) bool {
			return slices.Contains(rl.(map[string]any)["resources"].([]any), "configmaps")
		})
		got, _ = chartGrants(t, r, releaseNamespace)
		assert.Equal(t, []string{"list needs, chart lacks: release namespace get /configmaps name=\"\""}, diffGrants(got, list))

		role.Object["rules"] = append(slices.Clone(rules), map[string]any{"apiGroups": []any{"*"}, "resources": []any{"*"}, "verbs": []any{"*"}})
		_, problems := chartGrants(t, r, releaseNamespace)
		assert.NotEmpty(t, problems)
	})
	t.Run("remediation roles are permissions.UserRoles", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			values map[string]any
			want   map[string][]string
		}{
			{name: "defaults", want: map[string][]string{permissions.RemediationViewer: {"view"}, permissions.RemediationApprover: nil}},
			{name: "approver aggregated to edit and admin", values: map[string]any{"rbac": map[string]any{
				"remediationViewer": map[string]any{"aggregateTo": []any{}}, "remediationApprover": map[string]any{"aggregateTo": []any{"edit", "admin"}}}},
				want: map[string][]string{permissions.RemediationViewer: nil, permissions.RemediationApprover: {"edit", "admin"}}},
		} {
			r := mustRender(t, tc.values, renderOpts{})
			for _, ur := range permissions.UserRoles() {
				cr := into[rbacv1.ClusterRole](t, r.find(t, "ClusterRole", fullname+"-"+ur.Suffix))
				assert.Equal(t, ur.Rules, cr.Rules, ur.Suffix)
				var aggregated []string
				for _, to := range []string{"view", "edit", "admin"} {
					if cr.Labels["rbac.authorization.k8s.io/aggregate-to-"+to] == "true" {
						aggregated = append(aggregated, to)
					}
				}
				assert.ElementsMatch(t, tc.want[ur.Suffix], aggregated, "%s: %s", tc.name, ur.Suffix)
				if tc.name == "defaults" {
					assert.ElementsMatch(t, ur.AggregateTo, aggregated, "permissions.UserRoles states the chart's default")
				}
			}
		}
	})
	t.Run("metrics reader role", func(t *testing.T) {
		r := mustRender(t, nil, renderOpts{})
		mr := into[rbacv1.ClusterRole](t, r.find(t, "ClusterRole", fullname+"-metrics-reader"))
		assert.Equal(t, []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}, mr.Rules)
	})
}
