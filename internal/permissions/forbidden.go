package permissions

import "slices"

// Forbidden are requests the controller must never be granted, whatever the
// chart values: Secret enumeration, writes beyond its own objects, anything
// in other namespaces beyond the cluster-wide reads, escalation and
// impersonation. TestForbiddenIsForbidden keeps Controller clear of them, and
// test/helm asks a real apiserver each of them for the chart's
// ServiceAccount. otherNamespace is any namespace but the release namespace
// (kube-system is always asked too).
func Forbidden(releaseNamespace, otherNamespace string) []Request {
	all := []string{"", releaseNamespace, otherNamespace, "kube-system"}
	outside := []string{"", otherNamespace, "kube-system"}
	clusterScoped := []string{""}
	writes := []string{"create", "update", "patch", "delete", "deletecollection"}
	return slices.Concat(
		requests(all, "", []string{"list", "watch"}, "secrets"),
		requests(all, "", writes, "pods", "serviceaccounts", "services", "persistentvolumeclaims"),
		// Secrets: created only in the release namespace (the seal key),
		// never changed or deleted.
		requests(outside, "", []string{"create"}, "secrets"),
		requests(all, "", []string{"update", "patch", "delete", "deletecollection"}, "secrets"),
		// ConfigMaps: read in the release namespace (migration), never written.
		requests(all, "", slices.Concat([]string{"list", "watch"}, writes), "configmaps"),
		requests(outside, "", []string{"get"}, "configmaps"),
		requests(all, "", []string{"create"}, "pods/exec", "pods/attach", "pods/portforward", "pods/eviction", "serviceaccounts/token"),
		requests(all, "", []string{"update", "patch"}, "pods/status"),
		// Kinds the enricher does not gather are not read.
		requests(all, "", []string{"get", "list"}, "services", "persistentvolumeclaims", "endpoints"),
		requests(clusterScoped, "", []string{"get", "list", "watch"}, "nodes", "persistentvolumes"),
		requests(clusterScoped, "", []string{"get"}, "nodes/proxy"),
		requests(clusterScoped, "", writes, "namespaces", "nodes"),
		requests(clusterScoped, "", []string{"update"}, "namespaces/finalize"),
		// Events are recorded, never rewritten or removed.
		requests(all, "", []string{"update", "delete", "deletecollection"}, "events"),
		requests(all, "events.k8s.io", []string{"update", "delete", "deletecollection"}, "events"),
		requests(all, "apps", writes, "deployments", "replicasets", "statefulsets", "daemonsets"),
		requests(all, "apps", []string{"update", "patch"}, "deployments/scale"),
		requests(all, "batch", writes, "jobs", "cronjobs"),
		// Policies: the spec is the users'; status is written with Update.
		requests(all, "remediation.dot-ai.io", writes, "remediationpolicies"),
		requests(all, "remediation.dot-ai.io", []string{"patch"}, "remediationpolicies/status"),
		// Records: created and deleted, their spec never updated.
		requests(all, "remediation.dot-ai.io", []string{"update", "patch", "deletecollection"}, "remediations"),
		requests(all, "remediation.dot-ai.io", []string{"patch"}, "remediations/status"),
		// The controller's own state and Lease live in the release namespace.
		requests(outside, "remediation.dot-ai.io", []string{"get", "list", "create", "update", "delete"}, "controllerstates"),
		requests([]string{releaseNamespace}, "remediation.dot-ai.io", []string{"watch", "patch", "deletecollection"}, "controllerstates"),
		requests(outside, "coordination.k8s.io", []string{"get", "create", "update", "delete"}, "leases"),
		requests([]string{releaseNamespace}, "coordination.k8s.io", []string{"list", "watch", "patch", "delete"}, "leases"),
		requests(all, "rbac.authorization.k8s.io", []string{"create", "update", "patch", "delete", "bind", "escalate"},
			"roles", "rolebindings"),
		requests(clusterScoped, "rbac.authorization.k8s.io", []string{"create", "update", "patch", "delete", "bind", "escalate"},
			"clusterroles", "clusterrolebindings"),
		requests(clusterScoped, "apiextensions.k8s.io", writes, "customresourcedefinitions"),
		requests(clusterScoped, "admissionregistration.k8s.io", writes,
			"validatingwebhookconfigurations", "mutatingwebhookconfigurations"),
		requests(clusterScoped, "certificates.k8s.io", []string{"create"}, "certificatesigningrequests"),
		requests(clusterScoped, "", []string{"impersonate"}, "users", "groups", "serviceaccounts"),
		[]Request{{Verb: "*", Group: "*", Resource: "*"}},
	)
}

// requests expands namespaces × resources × verbs in one API group.
func requests(namespaces []string, group string, verbs []string, resources ...string) []Request {
	var out []Request
	for _, ns := range namespaces {
		for _, res := range resources {
			for _, v := range verbs {
				out = append(out, Request{Namespace: ns, Verb: v, Group: group, Resource: res})
			}
		}
	}
	return out
}

// Expected is what a can-i table for perms asks: each verb of each
// permission, in all namespaces, the release namespace, otherNamespace and
// kube-system (a release-namespace permission must be denied in the other
// three), with each resource name and one that is not listed; want is what
// Allows answers.
func Expected(perms []Permission, releaseNamespace, otherNamespace string) map[Request]bool {
	out := map[Request]bool{}
	for _, p := range perms {
		names := []string{""}
		if len(p.ResourceNames) > 0 {
			names = append(slices.Clone(p.ResourceNames), "not-"+p.ResourceNames[0])
		}
		for _, ns := range []string{"", releaseNamespace, otherNamespace, "kube-system"} {
			for _, v := range p.Verbs {
				for _, n := range names {
					r := Request{Namespace: ns, Verb: v, Group: p.Group, Resource: p.Resource, Name: n}
					out[r] = Allows(perms, releaseNamespace, r)
				}
			}
		}
	}
	return out
}
