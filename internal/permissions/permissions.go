// Package permissions is the one list of what the controller's
// ServiceAccount may do in the API: the chart's ClusterRole and Role grant
// exactly this (test/helm compares the rendered rules with it and asks a real
// kube-apiserver a can-i table derived from it), the enricher's reads come
// from enricher.GatheredResources, and docs/security.md shows it.
// Decision 12 (docs/design/decisions.md#d12): reads, the project's own
// objects, the leader Lease and what secure metrics need; nothing else.
package permissions

import (
	"slices"
	"strings"

	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/enricher"
)

// Scope says where a permission holds.
type Scope string

const (
	// ClusterWide is granted by the ClusterRole: every namespace, and
	// cluster-scoped resources.
	ClusterWide Scope = "cluster-wide"
	// ReleaseNamespace is granted by the Role, in the release namespace only.
	ReleaseNamespace Scope = "release namespace"
)

// Permission is one resource and the verbs the controller needs on it.
type Permission struct {
	// Group is the API group ("" for core).
	Group string
	// Resource is the plural resource, with "/subresource" if any.
	Resource string
	Verbs    []string
	// ResourceNames restricts the permission to these names (empty: any).
	ResourceNames []string
	Scope         Scope
	// Value is the chart value that turns the permission on, if any.
	Value string
	// Why the controller needs it.
	Why string
}

// Options are the chart values that change the list.
type Options struct {
	// Secrets is rbac.secrets.enabled.
	Secrets bool
	// SecretNames is rbac.secrets.resourceNames.
	SecretNames []string
	// MetricsAPI is rbac.metricsAPI.
	MetricsAPI bool
}

// ChartDefaults are the chart's default values.
func ChartDefaults() Options { return Options{Secrets: true, MetricsAPI: true} }

// The verb sets used below.
var (
	get          = []string{"get"}
	listWatch    = []string{"list", "watch"}
	getListWatch = []string{"get", "list", "watch"}
	createPatch  = []string{"create", "patch"}
	create       = []string{"create"}
)

const gatheredReason = "the enricher reads it (enricher.GatheredResources), as does the start-up object-gone check"

const ownerChains = "owner chains for cooldowns and the opt-out annotation, CEL's object (metadata informer)"

// informed are the resources the watcher keeps informers on (list/watch),
// and why; Events are listed with the verbs that record them.
var informed = []struct{ group, resource, why string }{
	{"", "pods", "the watcher's Pod informer (container-status reasons, CEL's object, the opt-out annotation)"},
	{"", "namespaces", "namespace labels for cluster policies' namespaceSelector, the opt-out annotation (metadata informer)"},
	{"apps", "replicasets", ownerChains},
	{"apps", "deployments", ownerChains},
	{"apps", "statefulsets", ownerChains},
	{"apps", "daemonsets", ownerChains},
	{"batch", "jobs", ownerChains},
	{"batch", "cronjobs", ownerChains},
}

// Controller is every permission the controller's ServiceAccount needs with
// the given chart values, in the order docs/security.md shows them.
func Controller(o Options) []Permission {
	var out []Permission
	add := func(p Permission) {
		p.Verbs = slices.Clone(p.Verbs)
		out = append(out, p)
	}
	add(Permission{Group: "", Resource: "events", Verbs: slices.Concat(listWatch, createPatch), Scope: ClusterWide,
		Why: "the watcher's Events informer; leader election records core/v1 Events"})
	add(Permission{Group: "events.k8s.io", Resource: "events", Verbs: createPatch, Scope: ClusterWide,
		Why: "Events the watcher records on policies (events.k8s.io recorder)"})
	out = append(out, reads()...)
	add(Permission{Group: "", Resource: "pods/log", Verbs: get, Scope: ClusterWide,
		Why: "container logs for enrichment (contextGathering.includeLogs)"})
	add(Permission{Group: "remediation.dot-ai.io", Resource: "remediationpolicies", Verbs: getListWatch, Scope: ClusterWide,
		Why: "the policies (their spec is never written)"})
	add(Permission{Group: "remediation.dot-ai.io", Resource: "remediationpolicies/status", Verbs: []string{"update"}, Scope: ClusterWide,
		Why: "policy status: conditions, counters, outcomes (Status().Update only)"})
	add(Permission{Group: "remediation.dot-ai.io", Resource: "remediations", Verbs: []string{"get", "list", "watch", "create", "delete"}, Scope: ClusterWide,
		Why: "Remediation records, created in the Event's namespace before a call leaves (the write-ahead intent), deleted by retention; their spec is never updated"})
	add(Permission{Group: "remediation.dot-ai.io", Resource: "remediations/status", Verbs: []string{"update"}, Scope: ClusterWide,
		Why: "record status: phase, dot-ai's answer, execution, seal (Status().Update with the resourceVersion only)"})
	add(Permission{Group: "authentication.k8s.io", Resource: "tokenreviews", Verbs: create, Scope: ClusterWide,
		Why: "secure metrics: authenticate scrapers"})
	add(Permission{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Verbs: create, Scope: ClusterWide,
		Why: "secure metrics: authorize scrapers; the webhook checks what a policy's author may read"})
	if o.MetricsAPI {
		add(Permission{Group: "metrics.k8s.io", Resource: "pods", Verbs: get, Scope: ClusterWide, Value: "rbac.metricsAPI",
			Why: "Pod usage for contextGathering.includeMetrics"})
	}
	if o.Secrets {
		add(Permission{Group: "", Resource: "secrets", Verbs: get, ResourceNames: slices.Clone(o.SecretNames), Scope: ClusterWide,
			Value: "rbac.secrets.enabled, rbac.secrets.resourceNames",
			Why:   "policies' mcpAuthSecretRef and notifications' webhookUrlSecretRef, read with an uncached reader: get only, never list/watch"})
	}
	add(Permission{Group: "coordination.k8s.io", Resource: "leases", Verbs: []string{"get", "create", "update"}, Scope: ReleaseNamespace,
		Why: "the leader Lease"})
	add(Permission{Group: "remediation.dot-ai.io", Resource: "controllerstates", Verbs: []string{"get", "list", "create", "update", "delete"},
		Scope: ReleaseNamespace, Why: "the controller's own state (checkpoints, counters, intents), read uncached, so no watch"})
	add(Permission{Group: "", Resource: "configmaps", Verbs: get, Scope: ReleaseNamespace,
		Why: "migrating checkpoint ConfigMaps of earlier releases (read only)"})
	add(Permission{Group: "", Resource: "secrets", Verbs: get, ResourceNames: []string{config.DefaultSealSecret}, Scope: ReleaseNamespace,
		Why: "the key that seals Remediation records, read uncached"})
	add(Permission{Group: "", Resource: "secrets", Verbs: create, Scope: ReleaseNamespace,
		Why: "creating the seal key Secret when absent (RBAC cannot scope create to a name; no update, delete, list or watch)"})
	return out
}

// reads merges the enricher's gets with the watcher's informers, one
// permission per resource, grouped as enricher.GatheredResources orders them.
func reads() []Permission {
	var out []Permission
	seen := map[string]bool{}
	whyInformed := func(group, resource string) string {
		for _, i := range informed {
			if i.group == group && i.resource == resource {
				return i.why
			}
		}
		return ""
	}
	for _, group := range sortedKeys(enricher.GatheredResources) {
		for _, res := range enricher.GatheredResources[group] {
			seen[group+"/"+res] = true
			p := Permission{Group: group, Resource: res, Verbs: get, Scope: ClusterWide, Why: gatheredReason}
			if w := whyInformed(group, res); w != "" {
				p.Verbs = getListWatch
				p.Why = w + "; " + gatheredReason
			}
			p.Verbs = slices.Clone(p.Verbs)
			out = append(out, p)
		}
	}
	for _, i := range informed {
		if !seen[i.group+"/"+i.resource] {
			out = append(out, Permission{Group: i.group, Resource: i.resource, Verbs: slices.Clone(listWatch), Scope: ClusterWide, Why: i.why})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Request is one question to the authorizer, as in a SubjectAccessReview's
// resourceAttributes. Namespace "" asks about all namespaces (or a
// cluster-scoped resource); Name "" about any name.
type Request struct {
	Namespace, Verb, Group, Resource, Name string
}

// String reads like the can-i question.
func (r Request) String() string {
	res := r.Resource
	if r.Group != "" {
		base, sub, ok := strings.Cut(res, "/")
		res = base + "." + r.Group
		if ok {
			res += "/" + sub
		}
	}
	if r.Name != "" {
		res += "/" + r.Name
	}
	ns := r.Namespace
	if ns == "" {
		ns = "all namespaces"
	}
	return r.Verb + " " + res + " in " + ns
}

// Allows says whether perms grant r to a ServiceAccount installed in
// releaseNamespace, with RBAC's semantics: a ClusterWide permission holds in
// every namespace, a ReleaseNamespace one only there; resource names restrict
// a permission to requests that name one of them.
func Allows(perms []Permission, releaseNamespace string, r Request) bool {
	return slices.ContainsFunc(perms, func(p Permission) bool {
		if p.Scope == ReleaseNamespace && r.Namespace != releaseNamespace {
			return false
		}
		if p.Group != r.Group || p.Resource != r.Resource || !slices.Contains(p.Verbs, r.Verb) {
			return false
		}
		return len(p.ResourceNames) == 0 || (r.Name != "" && slices.Contains(p.ResourceNames, r.Name))
	})
}
