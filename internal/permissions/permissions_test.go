package permissions

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/internal/enricher"
)

var update = flag.Bool("update", false, "rewrite the permissions table in docs/security.md")

const (
	release = "dot-ai"
	other   = "team-a"
)

// optionCases are the chart value combinations the chart's RBAC has.
var optionCases = map[string]Options{
	"defaults":                    ChartDefaults(),
	"secrets restricted":          {Secrets: true, SecretNames: []string{"a", "b"}, MetricsAPI: true},
	"secrets and metrics API off": {},
}

func TestEnricherReadsAreGranted(t *testing.T) {
	for name, o := range optionCases {
		perms := Controller(o)
		for group, resources := range enricher.GatheredResources {
			for _, res := range resources {
				for _, ns := range []string{"", release, other} {
					r := Request{Namespace: ns, Verb: "get", Group: group, Resource: res}
					assert.True(t, Allows(perms, release, r), "%s: %s", name, r)
				}
			}
		}
	}
}

func TestForbiddenIsForbidden(t *testing.T) {
	forbidden := Forbidden(release, other)
	require.Greater(t, len(forbidden), 300)
	for name, o := range optionCases {
		perms := Controller(o)
		for _, r := range forbidden {
			assert.False(t, Allows(perms, release, r), "%s: %s", name, r)
		}
	}
	t.Run("the check can fail", func(t *testing.T) {
		perms := append(Controller(ChartDefaults()), Permission{Resource: "configmaps", Verbs: []string{"create"}, Scope: ReleaseNamespace})
		assert.True(t, slices.ContainsFunc(forbidden, func(r Request) bool { return Allows(perms, release, r) }))
	})
}

// TestListShape: no wildcards, known verbs, one entry per resource, scope
// and resource names (a named get and an unnamed create of the same resource
// are two: RBAC cannot scope create to a name), and a reason for each.
func TestListShape(t *testing.T) {
	verbs := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	for name, o := range optionCases {
		seen := map[string]bool{}
		for _, p := range Controller(o) {
			key := string(p.Scope) + " " + p.Group + "/" + p.Resource + " " + strings.Join(p.ResourceNames, ",")
			assert.False(t, seen[key], "%s: %s listed twice", name, key)
			seen[key] = true
			assert.NotContains(t, p.Group, "*")
			assert.NotContains(t, p.Resource, "*")
			assert.NotEmpty(t, p.Verbs, key)
			assert.NotEmpty(t, p.Why, key)
			for _, v := range p.Verbs {
				assert.Contains(t, verbs, v, key)
			}
		}
	}
}

func TestAllows(t *testing.T) {
	perms := Controller(Options{Secrets: true, SecretNames: []string{"a"}})
	cases := []struct {
		r    Request
		want bool
	}{
		{Request{Namespace: "", Verb: "list", Resource: "pods"}, true},
		{Request{Namespace: other, Verb: "delete", Resource: "pods"}, false},
		{Request{Namespace: release, Verb: "get", Group: "coordination.k8s.io", Resource: "leases"}, true},
		{Request{Namespace: other, Verb: "get", Group: "coordination.k8s.io", Resource: "leases"}, false},
		{Request{Namespace: "", Verb: "get", Group: "coordination.k8s.io", Resource: "leases"}, false},
		{Request{Namespace: other, Verb: "get", Resource: "secrets", Name: "a"}, true},
		{Request{Namespace: other, Verb: "get", Resource: "secrets", Name: "b"}, false},
		{Request{Namespace: other, Verb: "get", Resource: "secrets"}, false},
		{Request{Namespace: other, Verb: "get", Group: "apps", Resource: "pods"}, false},
		{Request{Namespace: "", Verb: "get", Group: "metrics.k8s.io", Resource: "pods"}, false},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, Allows(perms, release, tc.r), tc.r.String())
	}
}

func TestExpected(t *testing.T) {
	exp := Expected(Controller(Options{Secrets: true, SecretNames: []string{"a"}}), release, other)
	assert.True(t, exp[Request{Namespace: other, Verb: "get", Resource: "secrets", Name: "a"}])
	assert.Contains(t, exp, Request{Namespace: other, Verb: "get", Resource: "secrets", Name: "not-a"})
	assert.False(t, exp[Request{Namespace: other, Verb: "get", Resource: "secrets", Name: "not-a"}])
	assert.True(t, exp[Request{Namespace: release, Verb: "create", Group: "remediation.dot-ai.io", Resource: "controllerstates"}])
	assert.Contains(t, exp, Request{Namespace: "kube-system", Verb: "create", Group: "remediation.dot-ai.io", Resource: "controllerstates"})
	assert.False(t, exp[Request{Namespace: "kube-system", Verb: "create", Group: "remediation.dot-ai.io", Resource: "controllerstates"}])
}

const (
	docBegin = "<!-- permissions:begin (generated from internal/permissions: go test ./internal/permissions -update) -->\n"
	docEnd   = "<!-- permissions:end -->"
)

// TestDocsTable keeps docs/security.md's table equal to the list.
func TestDocsTable(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "docs", "security.md")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	doc := string(raw)
	before, rest, ok := strings.Cut(doc, docBegin)
	require.True(t, ok, "docs/security.md lacks %q", docBegin)
	got, after, ok := strings.Cut(rest, docEnd)
	require.True(t, ok, "docs/security.md lacks %q", docEnd)
	want := Markdown(Controller(ChartDefaults()))
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(before+docBegin+want+docEnd+after), 0o644))
		return
	}
	assert.Equal(t, want, got, "docs/security.md's permissions table is stale: go test ./internal/permissions -update")
}
