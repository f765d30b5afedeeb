//go:build e2e && reliability

package e2e

import (
	"bufio"
	"fmt"
	"slices"
	"strings"

	"dot-ai.io/controller/internal/permissions"
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

// installed is internal/permissions' list (decision 12 (docs/design/decisions.md#d12)) for the values
// the suite installs with (rbac.secrets.enabled=true without resourceNames,
// rbac.metricsAPI=true, metrics.secure=true): the chart's defaults.
func installed() []permissions.Permission { return permissions.Controller(permissions.ChartDefaults()) }

// canIResource is how kubectl names a resource: "<resource>[.<group>]",
// then "/<subresource>" in `can-i --list` rows.
func canIResource(group, resource string) (string, string) {
	base, sub, _ := strings.Cut(resource, "/")
	if group != "" {
		base += "." + group
	}
	return base, sub
}

// permissionsIn are the list's rows of one scope, as `kubectl auth can-i
// --list` prints them.
func permissionsIn(scope permissions.Scope) []permission {
	var out []permission
	for _, p := range installed() {
		if p.Scope != scope {
			continue
		}
		res, sub := canIResource(p.Group, p.Resource)
		if sub != "" {
			res += "/" + sub
		}
		out = append(out, permission{permRow{Resource: res, ResourceNames: strings.Join(p.ResourceNames, " ")}, p.Verbs, p.Why})
	}
	return out
}

// clusterPermissions are the ServiceAccount's rows in every namespace (its
// ClusterRole); releasePermissions are added in the release namespace only
// (its Role).
var (
	clusterPermissions = permissionsIn(permissions.ClusterWide)
	releasePermissions = permissionsIn(permissions.ReleaseNamespace)
)

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
	// scope is "all" (-A), "release", "other" (a namespace without any of
	// the chart's bindings) or "kube-system".
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

// Placeholders for the namespaces permissions.Forbidden and
// permissions.Expected are asked about; the scope names replace them.
const (
	releasePlaceholder = "release"
	otherPlaceholder   = "other"
)

// fromRequests turns internal/permissions' questions into checks.
func fromRequests(want func(permissions.Request) bool, reqs []permissions.Request) []canICheck {
	out := make([]canICheck, 0, len(reqs))
	for _, r := range reqs {
		resource, sub := canIResource(r.Group, r.Resource)
		scope := r.Namespace
		if scope == "" {
			scope = "all"
		}
		out = append(out, canICheck{verb: r.Verb, resource: resource, subresource: sub, scope: scope, want: want(r)})
	}
	return out
}

// forbiddenChecks must all answer "no": permissions.Forbidden (no Secret
// enumeration, no ConfigMap or workload writes, nothing in kube-system beyond
// the list, no privilege escalation).
func forbiddenChecks() []canICheck {
	return fromRequests(func(permissions.Request) bool { return false }, permissions.Forbidden(releasePlaceholder, otherPlaceholder))
}

// grantedChecks are the can-i table derived from the list: each permission
// allowed where it holds and denied where it does not (a release-namespace
// permission elsewhere). The questions with resource names are left out:
// the suite installs without rbac.secrets.resourceNames.
func grantedChecks() []canICheck {
	exp := permissions.Expected(installed(), releasePlaceholder, otherPlaceholder)
	reqs := make([]permissions.Request, 0, len(exp))
	for r := range exp {
		reqs = append(reqs, r)
	}
	slices.SortFunc(reqs, func(a, b permissions.Request) int { return strings.Compare(a.String(), b.String()) })
	return fromRequests(func(r permissions.Request) bool { return exp[r] }, reqs)
}

var allScopes = []string{"all", "release", "other"}

// kubectlChecks are the questions of issue 8 asked through `kubectl auth
// can-i … --as=<ServiceAccount>` itself (≈ 250 ms of CPU each); the whole
// catalogue is asked through the same API (SelfSubjectAccessReview with
// impersonation) directly.
func kubectlChecks() []canICheck {
	return slices.Concat(
		checks(false, []string{"list", "watch"}, []string{"secrets"}, allScopes),
		checks(false, []string{"create", "update", "delete"}, []string{"pods", "deployments.apps", "configmaps"}, allScopes),
		checks(false, []string{"update", "delete"}, []string{"secrets"}, allScopes),
		// The controller creates its seal key Secret in the release
		// namespace (docs/design/remediation-records.md); nowhere else.
		checks(false, []string{"create"}, []string{"secrets"}, []string{"all", "other"}),
		checks(true, []string{"create"}, []string{"secrets"}, []string{"release"}),
		checks(true, []string{"create", "patch"}, []string{"events", "events.events.k8s.io"}, []string{"other"}),
		checks(true, []string{"update"}, []string{"remediationpolicies.remediation.dot-ai.io/status"}, []string{"all"}),
		checks(true, []string{"get", "create", "update"}, []string{"leases.coordination.k8s.io"}, []string{"release"}),
		checks(true, []string{"get"}, []string{"configmaps"}, []string{"release"}),
		checks(true, []string{"create", "update", "delete"}, []string{"controllerstates.remediation.dot-ai.io"}, []string{"release"}),
		checks(false, []string{"get"}, []string{"configmaps"}, []string{"other"}),
		checks(true, []string{"get"}, []string{"secrets"}, []string{"other"}),
	)
}
