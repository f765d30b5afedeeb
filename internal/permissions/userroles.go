package permissions

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"dot-ai.io/controller/api/v1alpha1"
)

// UserRole is a ClusterRole the chart ships for people to be bound to, never
// bound to the controller: its name is the release's full name, a dash and
// Suffix.
type UserRole struct {
	Suffix string
	// Value is the chart value listing the built-in roles (view, edit,
	// admin) it is aggregated to; AggregateTo is that value's default.
	Value       string
	AggregateTo []string
	Rules       []rbacv1.PolicyRule
	Why         string
}

// Suffixes of the Remediation roles' names.
const (
	RemediationViewer   = "remediation-viewer"
	RemediationApprover = "remediation-approver"
)

// UserRoles are the ClusterRoles for Remediation records
// (docs/remediations.md): the chart renders exactly these rules and the
// envtest integration tests bind them.
func UserRoles() []UserRole {
	rule := func(verbs ...string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{v1alpha1.RemediationResource}, Verbs: verbs}}
	}
	return []UserRole{
		{
			Suffix: RemediationViewer, Value: "rbac.remediationViewer.aggregateTo", AggregateTo: []string{"view"},
			Rules: rule("get", "list", "watch"),
			Why:   "read records: what dot-ai found and proposed, who decided, what ran (view aggregates into edit and admin)",
		},
		{
			Suffix: RemediationApprover, Value: "rbac.remediationApprover.aggregateTo",
			Rules: rule("get", "list", "watch", "update", "patch", v1alpha1.VerbApprove),
			Why: "approve or reject proposals: an approved command runs with dot-ai's own privileges, so it is " +
				"aggregated nowhere by default",
		},
	}
}
