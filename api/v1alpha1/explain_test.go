package v1alpha1_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// undocumented returns the path of every property under s (at path) whose
// description is empty: `kubectl explain` would show it bare.
func undocumented(path string, s *apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := s.Properties[n]
		if strings.TrimSpace(p.Description) == "" {
			out = append(out, path+"."+n)
		}
		out = append(out, undocumented(path+"."+n, &p)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		out = append(out, undocumented(path+"[]", s.Items.Schema)...)
	}
	return out
}

// TestExplainReadsWell: every field of every CRD has a description, so
// `kubectl explain remediation.status` (and the rest) documents each one.
func TestExplainReadsWell(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "config", "crd")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			crd := &apiextensionsv1.CustomResourceDefinition{}
			require.NoError(t, yaml.Unmarshal(data, crd))
			for _, v := range crd.Spec.Versions {
				s := v.Schema.OpenAPIV3Schema
				require.NotEmpty(t, s.Description, "the kind itself")
				// metadata is ObjectMeta: the apiserver publishes its own docs.
				missing := slices.DeleteFunc(undocumented(crd.Spec.Names.Singular, s), func(p string) bool { return p == crd.Spec.Names.Singular+".metadata" })
				assert.Empty(t, missing, "fields without a description")
			}
		})
	}

	t.Run("the check can fail", func(t *testing.T) {
		s := &apiextensionsv1.JSONSchemaProps{Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"status": {Description: "d", Properties: map[string]apiextensionsv1.JSONSchemaProps{"phase": {}}},
			"list": {Description: "d", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{
				Properties: map[string]apiextensionsv1.JSONSchemaProps{"x": {}}}}},
		}}
		assert.Equal(t, []string{"r.list[].x", "r.status.phase"}, undocumented("r", s))
	})
}
