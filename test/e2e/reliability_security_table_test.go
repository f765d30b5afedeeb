//go:build e2e && reliability

package e2e

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
)

// permRow is one row of `kubectl auth can-i --list`: a resource
// ("<resource>[.<group>][/<subresource>]") or a non-resource URL, with the
// resource names the rule is restricted to (space separated, empty: any).
type permRow struct {
	Resource, NonResourceURL, ResourceNames string
}

func (p permRow) String() string {
	switch {
	case p.NonResourceURL != "":
		return "url " + p.NonResourceURL
	case p.ResourceNames != "":
		return p.Resource + " names=[" + p.ResourceNames + "]"
	default:
		return p.Resource
	}
}

// permission is one expected row and why the controller needs it.
type permission struct {
	row   permRow
	verbs []string
	why   string
}

// clusterPermissions is the least-privilege table of the chart's
// ServiceAccount in every namespace (its ClusterRole), for the values the
// suite installs with (rbac.secrets.enabled=true without resourceNames,
// rbac.metricsAPI=true, metrics.secure=true). Decision 12 (docs/design/decisions.md#d12): reads, writes of
// the project's own objects (policy status, the Events it records) and what
// secure metrics need; nothing else.
var clusterPermissions = []permission{
	{permRow{Resource: "events"}, []string{"get", "list", "watch", "create", "patch"},
		"the watcher's core/v1 Events informer; leader election records core/v1 Events"},
	{permRow{Resource: "events.events.k8s.io"}, []string{"create", "patch"},
		"Events the watcher records on policies (events.k8s.io recorder)"},
	{permRow{Resource: "pods"}, []string{"get", "list", "watch"}, "the Pod informer (container-status reasons, enrichment)"},
	{permRow{Resource: "namespaces"}, []string{"get", "list", "watch"}, "namespace labels for cluster policies' namespaceSelector"},
	{permRow{Resource: "pods/log"}, []string{"get"}, "container logs for enrichment"},
	{permRow{Resource: "replicasets.apps"}, []string{"get", "list", "watch"}, "owner chain (metadata informer)"},
	{permRow{Resource: "deployments.apps"}, []string{"get", "list", "watch"}, "owner chain and resource spec"},
	{permRow{Resource: "statefulsets.apps"}, []string{"get", "list", "watch"}, "owner chain and resource spec"},
	{permRow{Resource: "daemonsets.apps"}, []string{"get", "list", "watch"}, "owner chain and resource spec"},
	{permRow{Resource: "jobs.batch"}, []string{"get", "list", "watch"}, "owner chain (metadata informer)"},
	{permRow{Resource: "cronjobs.batch"}, []string{"get", "list", "watch"}, "owner chain and resource spec"},
	{permRow{Resource: "remediationpolicies.remediation.dot-ai.io"}, []string{"get", "list", "watch"}, "the policies (spec is never written)"},
	{permRow{Resource: "remediationpolicies.remediation.dot-ai.io/status"}, []string{"update"}, "policy status: counters, conditions, outcomes (Status().Update only)"},
	{permRow{Resource: "tokenreviews.authentication.k8s.io"}, []string{"create"}, "secure metrics: authenticate scrapers"},
	{permRow{Resource: "subjectaccessreviews.authorization.k8s.io"}, []string{"create"}, "secure metrics: authorize scrapers"},
	{permRow{Resource: "pods.metrics.k8s.io"}, []string{"get"}, "Pod usage for contextGathering.includeMetrics (rbac.metricsAPI)"},
	{permRow{Resource: "secrets"}, []string{"get"},
		"policies' mcpAuthSecretRef, read with an uncached reader: get only, never list/watch (decision 1, rbac.secrets)"},
}

// releasePermissions are added in the release namespace only (the chart's
// Role).
var releasePermissions = []permission{
	{permRow{Resource: "leases.coordination.k8s.io"}, []string{"get", "create", "update"}, "the leader Lease"},
	{permRow{Resource: "configmaps"}, []string{"get"},
		"checkpoint ConfigMaps of the first format (dot-ai-checkpoint-<policy UID>), read once to migrate them; names are per policy, so no resourceNames"},
	{permRow{Resource: "controllerstates.remediation.dot-ai.io"}, []string{"get", "list", "create", "update", "delete"},
		"the controller's state (checkpoints, write-ahead intents), read uncached, so no watch; names are per policy or occurrence, so no resourceNames"},
}

// baselinePermissions are what every authenticated user or ServiceAccount
// gets from the default cluster roles (system:basic-user, system:discovery,
// system:public-info-viewer, system:service-account-issuer-discovery,
// system:cluster-trust-bundle-discovery). They are ignored when present, as
// long as they grant no more than this.
var baselinePermissions = []permission{
	{permRow{Resource: "selfsubjectaccessreviews.authorization.k8s.io"}, []string{"create"}, "system:basic-user"},
	{permRow{Resource: "selfsubjectrulesreviews.authorization.k8s.io"}, []string{"create"}, "system:basic-user"},
	{permRow{Resource: "selfsubjectreviews.authentication.k8s.io"}, []string{"create"}, "system:basic-user"},
	{permRow{Resource: "clustertrustbundles.certificates.k8s.io"}, []string{"get", "list", "watch"}, "system:cluster-trust-bundle-discovery (public CA bundles)"},
	{permRow{NonResourceURL: "/api"}, []string{"get"}, "system:discovery"},
	{permRow{NonResourceURL: "/api/*"}, []string{"get"}, "system:discovery"},
	{permRow{NonResourceURL: "/apis"}, []string{"get"}, "system:discovery"},
	{permRow{NonResourceURL: "/apis/*"}, []string{"get"}, "system:discovery"},
	{permRow{NonResourceURL: "/openapi"}, []string{"get"}, "system:discovery"},
	{permRow{NonResourceURL: "/openapi/*"}, []string{"get"}, "system:discovery"},
	{permRow{NonResourceURL: "/healthz"}, []string{"get"}, "system:public-info-viewer"},
	{permRow{NonResourceURL: "/livez"}, []string{"get"}, "system:public-info-viewer"},
	{permRow{NonResourceURL: "/readyz"}, []string{"get"}, "system:public-info-viewer"},
	{permRow{NonResourceURL: "/version"}, []string{"get"}, "system:public-info-viewer"},
	{permRow{NonResourceURL: "/version/"}, []string{"get"}, "system:public-info-viewer"},
	{permRow{NonResourceURL: "/.well-known/openid-configuration"}, []string{"get"}, "system:service-account-issuer-discovery"},
	{permRow{NonResourceURL: "/.well-known/openid-configuration/"}, []string{"get"}, "system:service-account-issuer-discovery"},
	{permRow{NonResourceURL: "/openid/v1/jwks"}, []string{"get"}, "system:service-account-issuer-discovery"},
	{permRow{NonResourceURL: "/openid/v1/jwks/"}, []string{"get"}, "system:service-account-issuer-discovery"},
}

// permTable maps rows to their sorted verbs.
type permTable map[permRow][]string

func tableOf(ps ...[]permission) permTable {
	out := permTable{}
	for _, list := range ps {
		for _, p := range list {
			out[p.row] = mergeVerbs(out[p.row], p.verbs)
		}
	}
	return out
}

func mergeVerbs(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// lines renders the table one sorted "row: [verbs]" line each, for a
// readable diff.
func (t permTable) lines() []string {
	out := make([]string, 0, len(t))
	for row, verbs := range t {
		out = append(out, fmt.Sprintf("%s: %v", row, verbs))
	}
	slices.Sort(out)
	return out
}

// withoutBaseline drops the baseline rows that grant no more than the
// baseline; a baseline row with extra verbs stays (and fails the
// comparison).
func (t permTable) withoutBaseline() permTable {
	base := tableOf(baselinePermissions)
	out := permTable{}
	for row, verbs := range t {
		if b, ok := base[row]; ok && len(mergeVerbs(b, verbs)) == len(b) {
			continue
		}
		out[row] = verbs
	}
	return out
}

// parseCanIList parses the table `kubectl auth can-i --list` prints
// (columns Resources, Non-Resource URLs, Resource Names, Verbs, aligned by
// a tabwriter; list cells print as [a b]). Lines before the header
// (warnings) are returned separately.
func parseCanIList(out string) (permTable, []string, error) {
	headers := []string{"Resources", "Non-Resource URLs", "Resource Names", "Verbs"}
	var cols []int
	var warnings []string
	table := permTable{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if cols == nil {
			if strings.HasPrefix(line, headers[0]) && strings.Contains(line, headers[3]) {
				for _, h := range headers {
					cols = append(cols, strings.Index(line, h))
				}
				if !slices.IsSorted(cols) || cols[1] <= 0 {
					return nil, nil, fmt.Errorf("unexpected header %q", line)
				}
			} else if strings.TrimSpace(line) != "" {
				warnings = append(warnings, line)
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		cell := func(i int) string {
			start, end := cols[i], len(line)
			if i+1 < len(cols) {
				end = min(cols[i+1], len(line))
			}
			if start >= len(line) {
				return ""
			}
			return strings.TrimSpace(line[start:end])
		}
		list := func(i int) (string, error) {
			c := cell(i)
			if !strings.HasPrefix(c, "[") || !strings.HasSuffix(c, "]") {
				return "", fmt.Errorf("column %q of %q is not a list", headers[i], line)
			}
			return strings.Join(strings.Fields(c[1:len(c)-1]), " "), nil
		}
		urls, err := list(1)
		if err != nil {
			return nil, nil, err
		}
		names, err := list(2)
		if err != nil {
			return nil, nil, err
		}
		verbs, err := list(3)
		if err != nil {
			return nil, nil, err
		}
		row := permRow{Resource: cell(0), NonResourceURL: urls, ResourceNames: names}
		if row.Resource == "" && row.NonResourceURL == "" {
			return nil, nil, fmt.Errorf("row without resource or URL: %q", line)
		}
		table[row] = mergeVerbs(table[row], strings.Fields(verbs))
	}
	if cols == nil {
		return nil, warnings, fmt.Errorf("no header line in:\n%s", out)
	}
	return table, warnings, sc.Err()
}

// canICheck is one `kubectl auth can-i <verb> <resource>` question.
type canICheck struct {
	verb, resource, subresource string
	// scope is "all" (-A), "release" or "other" (a namespace without any
	// of the chart's bindings).
	scope string
	want  bool
}

func (c canICheck) String() string {
	s := c.verb + " " + c.resource
	if c.subresource != "" {
		s += " --subresource=" + c.subresource
	}
	return s + " in " + c.scope
}

// checks expands verbs × resources × scopes.
func checks(want bool, verbs, resources, scopes []string) []canICheck {
	var out []canICheck
	for _, sc := range scopes {
		for _, res := range resources {
			for _, v := range verbs {
				resource, sub, _ := strings.Cut(res, "/")
				out = append(out, canICheck{verb: v, resource: resource, subresource: sub, scope: sc, want: want})
			}
		}
	}
	return out
}

var (
	writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}
	allScopes  = []string{"all", "release", "other"}
)

// forbiddenChecks must all answer "no": no Secret enumeration, no writes
// outside the project's own objects, no privilege escalation.
func forbiddenChecks() []canICheck {
	return slices.Concat(
		checks(false, []string{"list", "watch"}, []string{"secrets"}, allScopes),
		checks(false, writeVerbs, []string{"secrets", "pods", "deployments.apps", "replicasets.apps", "statefulsets.apps",
			"daemonsets.apps", "jobs.batch", "services", "serviceaccounts", "namespaces", "remediationpolicies.remediation.dot-ai.io"}, allScopes),
		checks(false, []string{"create"}, []string{"pods/exec", "pods/attach", "pods/portforward", "pods/eviction", "serviceaccounts/token"}, allScopes),
		checks(false, []string{"update", "patch"}, []string{"pods/status", "deployments.apps/scale", "namespaces/finalize"}, allScopes),
		// The Role's writes stay in the release namespace.
		checks(false, writeVerbs, []string{"configmaps"}, allScopes),
		checks(false, writeVerbs, []string{"controllerstates.remediation.dot-ai.io"}, []string{"all", "other"}),
		checks(false, []string{"create", "update", "patch", "delete"}, []string{"leases.coordination.k8s.io"}, []string{"all", "other"}),
		checks(false, []string{"patch", "delete"}, []string{"leases.coordination.k8s.io"}, []string{"release"}),
		// Status is written with Update, checkpoints read uncached: no patch, no watch.
		checks(false, []string{"patch"}, []string{"remediationpolicies.remediation.dot-ai.io/status"}, allScopes),
		checks(false, []string{"watch", "patch"}, []string{"controllerstates.remediation.dot-ai.io"}, []string{"release"}),
		// Events are recorded, never rewritten or removed.
		checks(false, []string{"update", "delete", "deletecollection"}, []string{"events", "events.events.k8s.io"}, allScopes),
		// Cluster-scoped: RBAC, admission, the CRD, impersonation.
		checks(false, []string{"create", "update", "patch", "delete"}, []string{"clusterroles.rbac.authorization.k8s.io",
			"clusterrolebindings.rbac.authorization.k8s.io", "customresourcedefinitions.apiextensions.k8s.io",
			"validatingwebhookconfigurations.admissionregistration.k8s.io", "mutatingwebhookconfigurations.admissionregistration.k8s.io",
			"nodes"}, []string{"all"}),
		checks(false, []string{"create", "update", "delete"}, []string{"roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io"}, allScopes),
		checks(false, []string{"bind", "escalate"}, []string{"clusterroles.rbac.authorization.k8s.io", "roles.rbac.authorization.k8s.io"}, []string{"all"}),
		checks(false, []string{"impersonate"}, []string{"users", "groups", "serviceaccounts"}, []string{"all"}),
		checks(false, []string{"*"}, []string{"*"}, allScopes),
	)
}

// kubectlChecks are the questions of issue 8 asked through `kubectl auth
// can-i … --as=<ServiceAccount>` itself (≈ 250 ms of CPU each); the whole
// catalogue is asked through the same API (SelfSubjectAccessReview with
// impersonation) directly.
func kubectlChecks() []canICheck {
	return slices.Concat(
		checks(false, []string{"list", "watch"}, []string{"secrets"}, allScopes),
		checks(false, []string{"create", "update", "delete"}, []string{"secrets", "pods", "deployments.apps", "configmaps"}, []string{"all", "other"}),
		checks(false, []string{"create", "update", "delete"}, []string{"secrets", "pods", "deployments.apps"}, []string{"release"}),
		checks(true, []string{"create", "patch"}, []string{"events", "events.events.k8s.io"}, []string{"other"}),
		checks(true, []string{"update"}, []string{"remediationpolicies.remediation.dot-ai.io/status"}, []string{"all"}),
		checks(true, []string{"get", "create", "update"}, []string{"leases.coordination.k8s.io"}, []string{"release"}),
		checks(false, []string{"create", "update", "delete"}, []string{"configmaps"}, []string{"release"}),
		checks(true, []string{"create", "update", "delete"}, []string{"controllerstates.remediation.dot-ai.io"}, []string{"release"}),
		checks(true, []string{"get"}, []string{"secrets"}, []string{"other"}),
	)
}

// grantedChecks must all answer "yes": what the chart grants on purpose.
func grantedChecks() []canICheck {
	return slices.Concat(
		checks(true, []string{"get", "list", "watch"}, []string{"events", "pods", "remediationpolicies.remediation.dot-ai.io"}, []string{"all"}),
		checks(true, []string{"create", "patch"}, []string{"events", "events.events.k8s.io"}, []string{"other", "release"}),
		checks(true, []string{"update"}, []string{"remediationpolicies.remediation.dot-ai.io/status"}, []string{"all"}),
		checks(true, []string{"get"}, []string{"pods/log", "secrets"}, []string{"other"}),
		checks(true, []string{"get", "create", "update"}, []string{"leases.coordination.k8s.io"}, []string{"release"}),
		checks(true, []string{"get"}, []string{"configmaps"}, []string{"release"}),
		checks(true, []string{"get", "list", "create", "update", "delete"}, []string{"controllerstates.remediation.dot-ai.io"}, []string{"release"}),
		checks(true, []string{"create"}, []string{"tokenreviews.authentication.k8s.io", "subjectaccessreviews.authorization.k8s.io"}, []string{"all"}),
	)
}
