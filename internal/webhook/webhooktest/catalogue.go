// Package webhooktest loads the catalogue of invalid RemediationPolicies
// (internal/webhook/testdata/invalid-policies.yaml) that the envtest
// integration test and the end-to-end reliability suite both apply to a real
// apiserver, asserting each is rejected with exactly the expected field
// paths.
//
// Each entry holds only the policy's spec, as free-form YAML (so entries can
// carry wrong types and unknown shapes that the Go types could not). The
// object's metadata comes from the test: the entry's name is the policy's
// name, and the namespace is the test's work namespace, or the installation's
// cluster-policy namespace when clusterPolicyNamespace is true. A string value
// may be written as {$repeat: TEXT, times: N}, which stands for TEXT repeated
// N times (for the length bounds).
package webhooktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"dot-ai.io/controller/api/v1alpha1"
)

// Who rejects a case first. The apiserver runs the defaulting webhook, then
// the CRD's OpenAPI schema, then the validating webhook: a spec that fails
// the schema (a value out of bounds or of the wrong JSON type) never reaches
// the validating webhook, so its field paths are the schema's alone. Both
// answer 422 Invalid with one cause per field path.
const (
	RejectedBySchema  = "schema"
	RejectedByWebhook = "webhook"
)

// Case is one invalid policy.
type Case struct {
	// Name is the policy's metadata.name (a DNS-1123 subdomain), unique in
	// the catalogue.
	Name string `json:"name"`
	// Why says in one line what is wrong; fuzz-derived entries say so and
	// name their corpus file.
	Why string `json:"why"`
	// ClusterPolicyNamespace places the policy in the installation's
	// cluster-policy namespace instead of the work namespace.
	ClusterPolicyNamespace bool `json:"clusterPolicyNamespace,omitempty"`
	// UpdateFrom, when set, is a valid spec created first; the case then
	// updates the policy to Spec, and the update must be rejected.
	UpdateFrom map[string]any `json:"updateFrom,omitempty"`
	// Spec is the policy's spec.
	Spec map[string]any `json:"spec"`
	// RejectedBy is schema or webhook.
	RejectedBy string `json:"rejectedBy"`
	// FieldPaths are exactly the field paths of the rejection's causes.
	FieldPaths []string `json:"fieldPaths"`
}

// Path is the catalogue in this repository.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "invalid-policies.yaml")
}

// Load reads and checks a catalogue: names unique and usable as object
// names, a why, a spec and field paths for every entry, and a known
// rejectedBy.
func Load(path string) ([]Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cases []Case
	if err := yaml.UnmarshalStrict(data, &cases); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	var errs []error
	for i := range cases {
		c := &cases[i]
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: entry %d (%q): %s", path, i, c.Name, fmt.Sprintf(format, args...)))
		}
		if msgs := validation.IsDNS1123Subdomain(c.Name); len(msgs) > 0 {
			bad("name: %s", strings.Join(msgs, "; "))
		}
		if seen[c.Name] {
			bad("duplicate name")
		}
		seen[c.Name] = true
		if strings.TrimSpace(c.Why) == "" || strings.Contains(c.Why, "\n") {
			bad("why must be one non-empty line")
		}
		if c.Spec == nil {
			bad("no spec")
		}
		if len(c.FieldPaths) == 0 {
			bad("no fieldPaths")
		}
		switch c.RejectedBy {
		case RejectedBySchema, RejectedByWebhook:
		default:
			bad("rejectedBy must be %s or %s", RejectedBySchema, RejectedByWebhook)
		}
		if c.Spec, err = expand(c.Spec); err != nil {
			bad("spec: %v", err)
		}
		if c.UpdateFrom != nil {
			if c.UpdateFrom, err = expand(c.UpdateFrom); err != nil {
				bad("updateFrom: %v", err)
			}
		}
	}
	return cases, errors.Join(errs...)
}

// Namespace is where the case's policy lives.
func (c *Case) Namespace(workNS, clusterPolicyNS string) string {
	if c.ClusterPolicyNamespace {
		return clusterPolicyNS
	}
	return workNS
}

// Object is the case's policy (with Spec, or with UpdateFrom when initial
// is true) as an unstructured object, so wrong types reach the apiserver as
// written.
func (c *Case) Object(workNS, clusterPolicyNS string, initial bool) *unstructured.Unstructured {
	spec := c.Spec
	if initial {
		spec = c.UpdateFrom
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       "RemediationPolicy",
		"metadata":   map[string]any{"name": c.Name, "namespace": c.Namespace(workNS, clusterPolicyNS)},
		"spec":       deepCopy(spec),
	}}
	return u
}

// Apply sends the case to the apiserver and returns its answer (nil when
// the policy was accepted): a create, or, for an update case, a create of
// UpdateFrom and then the update to Spec. The update is retried on
// conflicts, as a running controller may write the new policy's status in
// between. err reports a failed setup (UpdateFrom refused). The policy is
// left in place when stored; the caller deletes it (Object's name and
// namespace).
func (c *Case) Apply(ctx context.Context, cl client.Client, workNS, clusterPolicyNS string) (answer, err error) {
	obj := c.Object(workNS, clusterPolicyNS, false)
	if c.UpdateFrom == nil {
		return cl.Create(ctx, obj), nil
	}
	initial := c.Object(workNS, clusterPolicyNS, true)
	if err := cl.Create(ctx, initial); err != nil {
		return nil, fmt.Errorf("creating updateFrom of %s: %w", c.Name, err)
	}
	answer = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(initial.GroupVersionKind())
		if err := cl.Get(ctx, client.ObjectKeyFromObject(initial), cur); err != nil {
			return err
		}
		obj.SetResourceVersion(cur.GetResourceVersion())
		return cl.Update(ctx, obj)
	})
	return answer, nil
}

// expand replaces every {$repeat: TEXT, times: N} with the repeated string.
func expand(m map[string]any) (map[string]any, error) {
	v, err := expandValue(m)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

func expandValue(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if text, ok := t["$repeat"]; ok {
			s, ok1 := text.(string)
			n, ok2 := t["times"].(float64)
			if !ok1 || !ok2 || len(t) != 2 || n < 0 || n != float64(int(n)) {
				return nil, fmt.Errorf("$repeat wants {$repeat: string, times: non-negative integer}, got %v", t)
			}
			return strings.Repeat(s, int(n)), nil
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			x, err := expandValue(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = x
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			x, err := expandValue(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = x
		}
		return out, nil
	}
	return v, nil
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
