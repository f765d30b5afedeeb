package webhook_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/webhook/webhooktest"
)

// Namespaces of the catalogue's policies in the integration tests: team-a is
// a team namespace, dot-ai the installation's (cluster-policy) namespace.
const (
	catalogueWorkNS    = "team-a"
	catalogueClusterNS = "dot-ai"
)

func loadCatalogue(t *testing.T) []webhooktest.Case {
	t.Helper()
	cases, err := webhooktest.Load(webhooktest.Path())
	require.NoError(t, err)
	return cases
}

// TestCatalogue checks the catalogue's shape and, for every entry the
// validating webhook rejects, that Default+Validate in process report exactly
// its field paths (the schema entries need an apiserver: see
// TestWebhooksAgainstAPIServer/catalogue).
func TestCatalogue(t *testing.T) {
	cases := loadCatalogue(t)
	require.GreaterOrEqual(t, len(cases), 40, "issue 8 asks for at least 40 invalid policies")
	names := map[string]bool{}
	var fuzz, schema, hooks int
	for _, c := range cases {
		assert.False(t, names[c.Name], "duplicate name %s", c.Name)
		names[c.Name] = true
		if strings.HasPrefix(c.Why, "fuzz-derived") {
			fuzz++
		}
		switch c.RejectedBy {
		case webhooktest.RejectedBySchema:
			schema++
		case webhooktest.RejectedByWebhook:
			hooks++
		}
	}
	assert.GreaterOrEqual(t, fuzz, 5, "fuzz-derived entries")
	assert.GreaterOrEqual(t, schema+hooks, 40, "entries rejected with 422 and field paths")
	t.Logf("%d invalid policies: %d fuzz-derived; rejected by the schema %d, by the validating webhook %d",
		len(cases), fuzz, schema, hooks)

	s := integrationSettings()
	for _, c := range cases {
		if c.RejectedBy == webhooktest.RejectedBySchema {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			newP := typedPolicy(t, s, c.Object(catalogueWorkNS, catalogueClusterNS, false))
			var oldP *v1alpha1.RemediationPolicy
			if c.UpdateFrom != nil {
				oldP = typedPolicy(t, s, c.Object(catalogueWorkNS, catalogueClusterNS, true))
				errs, _ := policy.Validate(s, nil, oldP)
				require.Empty(t, errs, "updateFrom must be valid")
			}
			errs, _ := policy.Validate(s, oldP, newP)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
			}
			assert.ElementsMatch(t, c.FieldPaths, got, "errors: %v", errs.ToAggregate())
		})
	}
}

// typedPolicy decodes an unstructured policy and defaults it, as the
// defaulting webhook would before validation.
func typedPolicy(t *testing.T, s *config.Settings, u *unstructured.Unstructured) *v1alpha1.RemediationPolicy {
	t.Helper()
	data, err := json.Marshal(u.Object)
	require.NoError(t, err)
	p := &v1alpha1.RemediationPolicy{}
	require.NoError(t, json.Unmarshal(data, p))
	policy.Default(s, p)
	return p
}

// testCatalogueAgainstAPIServer creates every catalogue policy through the
// real apiserver (CRD schema and both webhooks) and checks the rejection:
// 422 Invalid with exactly the expected field paths, nothing stored.
func testCatalogueAgainstAPIServer(t *testing.T, c client.Client) {
	for _, tc := range loadCatalogue(t) {
		t.Run(tc.Name, func(t *testing.T) {
			ctx := t.Context()
			obj := tc.Object(catalogueWorkNS, catalogueClusterNS, false)
			answer, err := tc.Apply(ctx, c, catalogueWorkNS, catalogueClusterNS)
			require.NoError(t, err)
			if tc.UpdateFrom != nil {
				t.Cleanup(func() { _ = c.Delete(context.Background(), obj) })
				assertRejected(t, tc, answer)
				return
			}
			if answer == nil {
				_ = c.Delete(ctx, obj)
			}
			assertRejected(t, tc, answer)
			err = c.Get(ctx, client.ObjectKeyFromObject(obj), &v1alpha1.RemediationPolicy{})
			assert.True(t, apierrors.IsNotFound(err), "nothing stored: %v", err)
		})
	}
}

func assertRejected(t *testing.T, tc webhooktest.Case, err error) {
	t.Helper()
	require.Error(t, err, "accepted")
	require.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
	var got []string
	for _, c := range causesOf(t, err) {
		got = append(got, c.Field)
	}
	assert.ElementsMatch(t, tc.FieldPaths, got, "rejection: %v", err)
}
