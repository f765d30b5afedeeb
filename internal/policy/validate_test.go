package policy

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/celevent"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/policy/policytest"
)

const (
	installEndpoint = policytest.InstallEndpoint
	allowedPrefix   = policytest.AllowedPrefix
	otherEndpoint   = policytest.OtherEndpoint
)

func testSettings() *config.Settings { return policytest.Settings() }

func validPolicy() *v1alpha1.RemediationPolicy {
	return &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "crashes", Namespace: "team-a"},
		Spec: v1alpha1.RemediationPolicySpec{
			EventSelectors: []v1alpha1.EventSelector{{Type: v1alpha1.EventTypeWarning, Reason: "BackOff"}},
		},
	}
}

var (
	specPath = field.NewPath("spec")
	selPath  = specPath.Child("eventSelectors")
	exclPath = specPath.Child("excludeSelectors")
)

func sel0(child string) *field.Path { return selPath.Index(0).Child(child) }

func celErr(expr string) string {
	_, err := celevent.Compile(expr)
	if err == nil {
		panic("expected a CEL error for " + expr)
	}
	return "must be a CEL expression over event and object returning bool: " + err.Error()
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(p *v1alpha1.RemediationPolicy)
		errs     field.ErrorList
		warnings []string
	}{
		{name: "minimal valid policy", mutate: func(*v1alpha1.RemediationPolicy) {}},
		{
			name: "fully specified valid policy",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = []v1alpha1.EventSelector{
					{Type: v1alpha1.EventTypeWarning, Reason: "BackOff", InvolvedObjectKind: "Pod", Namespace: "team-a",
						Message: "^Back-off restarting", Expression: `event.count > 3`,
						Mode: v1alpha1.ModeManual, ConfidenceThreshold: new(0.9), MaxRiskLevel: v1alpha1.RiskMedium},
					{Type: v1alpha1.EventTypeWarning, Reason: "FailedScheduling"},
				}
				p.Spec.Mode = v1alpha1.ModeAutomatic
				p.Spec.ConfidenceThreshold = new(0.8)
				p.Spec.MaxRiskLevel = v1alpha1.RiskLow
				p.Spec.McpTool = "remediate_v2"
				p.Spec.McpEndpoint = allowedPrefix + "api/v1/tools/remediate"
				p.Spec.RateLimiting = &v1alpha1.RateLimiting{EventsPerMinute: new(int32(1)), CooldownMinutes: new(int32(1440))}
				p.Spec.ContextGathering = &v1alpha1.ContextGathering{LogLines: new(int32(1)), MaxLogBytes: new(int64(1024)), LookbackMinutes: new(int32(1440))}
			},
		},
		{
			name:   "no selectors",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors = nil },
			errs:   field.ErrorList{field.Required(selPath, MsgSelectorsRequired)},
		},
		{
			name:   "empty selector list",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors = []v1alpha1.EventSelector{} },
			errs:   field.ErrorList{field.Required(selPath, MsgSelectorsRequired)},
		},
		{
			name:     "a policy in a cluster-policy namespace without namespaceSelector is told what it sees",
			mutate:   func(p *v1alpha1.RemediationPolicy) { p.Namespace = "platform" },
			warnings: []string{fmt.Sprintf(WarnClusterNamespaceOwnOnly, "platform")},
		},
		{
			name: "namespaceSelector: {} in a cluster-policy namespace needs no warning",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Namespace = "platform"
				p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{}
			},
		},
		{
			name: "exclude selectors: matching fields only, same rules as eventSelectors",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.ExcludeSelectors = []v1alpha1.EventSelector{
					{Reason: "Unhealthy", Message: "^Readiness probe failed"},
					{InvolvedObjectKind: "Job", Expression: `event.involvedObject.name.startsWith('noisy-')`},
					{},
					{Reason: "Unhealthy", Message: "^Readiness probe failed", Mode: v1alpha1.ModeAutomatic,
						ConfidenceThreshold: new(0.5), MaxRiskLevel: v1alpha1.RiskHigh},
					{Reason: "X", Message: "(unclosed", Namespace: "other"},
				}
			},
			errs: field.ErrorList{
				field.Invalid(exclPath.Index(2), "{}", MsgSelectorWildcard),
				field.Duplicate(exclPath.Index(3), "{reason=Unhealthy, message=^Readiness probe failed}"),
				field.Forbidden(exclPath.Index(3).Child("mode"), MsgExcludeOverride),
				field.Forbidden(exclPath.Index(3).Child("confidenceThreshold"), MsgExcludeOverride),
				field.Forbidden(exclPath.Index(3).Child("maxRiskLevel"), MsgExcludeOverride),
				field.Invalid(exclPath.Index(4).Child("namespace"), "other", fmt.Sprintf(MsgSelectorNamespace, "team-a")),
				field.Invalid(exclPath.Index(4).Child("message"), "(unclosed", "must be an RE2 regular expression: error parsing regexp: missing closing ): `(unclosed`"),
			},
		},
		{
			name: "too many exclude selectors",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				for i := range 33 {
					p.Spec.ExcludeSelectors = append(p.Spec.ExcludeSelectors, v1alpha1.EventSelector{Reason: fmt.Sprintf("R%d", i)})
				}
			},
			errs: field.ErrorList{field.TooMany(exclPath, 33, 32)},
		},
		{
			name: "too many selectors",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = nil
				for i := range 33 {
					p.Spec.EventSelectors = append(p.Spec.EventSelectors, v1alpha1.EventSelector{Reason: fmt.Sprintf("R%d", i)})
				}
			},
			errs: field.ErrorList{field.TooMany(selPath, 33, 32)},
		},
		{
			name:   "all-wildcard selector",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors = []v1alpha1.EventSelector{{}} },
			errs:   field.ErrorList{field.Invalid(selPath.Index(0), "{}", MsgSelectorWildcard)},
		},
		{
			name: "namespace and overrides alone do not constrain a selector",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = []v1alpha1.EventSelector{{Namespace: "team-a", Mode: v1alpha1.ModeManual}}
			},
			errs: field.ErrorList{field.Invalid(selPath.Index(0), "{}", MsgSelectorWildcard)},
		},
		{
			name: "duplicate selectors (overrides do not count)",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = []v1alpha1.EventSelector{
					{Type: v1alpha1.EventTypeWarning, Reason: "BackOff"},
					{Type: v1alpha1.EventTypeWarning, Reason: "Failed"},
					{Type: v1alpha1.EventTypeWarning, Reason: "BackOff", Mode: v1alpha1.ModeManual},
				}
			},
			errs: field.ErrorList{field.Duplicate(selPath.Index(2), "{type=Warning, reason=BackOff}")},
		},
		{
			name: "selector enums and bounds",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = []v1alpha1.EventSelector{{
					Type: "Critical", Reason: strings.Repeat("R", 129), InvolvedObjectKind: "Pod-x",
					Mode: "auto", ConfidenceThreshold: new(1.5), MaxRiskLevel: "extreme",
				}}
			},
			errs: field.ErrorList{
				field.NotSupported(sel0("type"), "Critical", []string{"Normal", "Warning"}),
				field.TooLong(sel0("reason"), strings.Repeat("R", 129), 128),
				field.Invalid(sel0("involvedObjectKind"), "Pod-x", MsgKindPattern),
				field.NotSupported(sel0("mode"), "auto", []string{"manual", "automatic"}),
				field.Invalid(sel0("confidenceThreshold"), 1.5, "must be less than or equal to 1"),
				field.NotSupported(sel0("maxRiskLevel"), "extreme", []string{"low", "medium", "high"}),
			},
		},
		{
			name: "selector negative confidence and NaN",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = []v1alpha1.EventSelector{
					{Reason: "A", ConfidenceThreshold: new(-0.1)},
					{Reason: "B", ConfidenceThreshold: new(math.NaN())},
				}
			},
			errs: field.ErrorList{
				field.Invalid(sel0("confidenceThreshold"), -0.1, "must be greater than or equal to 0"),
				field.Invalid(selPath.Index(1).Child("confidenceThreshold"), "NaN", MsgNotANumber),
			},
		},
		{
			name: "selector kind too long",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors[0].InvolvedObjectKind = strings.Repeat("K", 64)
			},
			errs: field.ErrorList{field.TooLong(sel0("involvedObjectKind"), strings.Repeat("K", 64), 63)},
		},
		{
			name: "container-status reasons are legal (decision 7)",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = []v1alpha1.EventSelector{
					{Type: v1alpha1.EventTypeWarning, Reason: "CrashLoopBackOff", InvolvedObjectKind: "Pod"},
					{Reason: "OOMKilled"},
				}
			},
		},
		{
			name: "container-status reason on a non-Pod kind and on Normal events warns",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = []v1alpha1.EventSelector{
					{Reason: "CrashLoopBackOff", InvolvedObjectKind: "Deployment"},
					{Type: v1alpha1.EventTypeNormal, Reason: "OOMKilled"},
				}
			},
			warnings: []string{
				fmt.Sprintf(WarnContainerStatusReasonKind, 0, "CrashLoopBackOff", "Deployment"),
				fmt.Sprintf(WarnSelectorNormalEvents, 1),
				fmt.Sprintf(WarnContainerStatusReasonNormal, 1, "OOMKilled"),
			},
		},
		{
			name:     "lower-case kind warns",
			mutate:   func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].InvolvedObjectKind = "pod" },
			warnings: []string{fmt.Sprintf(WarnKindLowercase, 0, "pod")},
		},
		{
			name:     "type-only selector warns",
			mutate:   func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Reason = "" },
			warnings: []string{fmt.Sprintf(WarnSelectorTypeOnly, 0, "Warning")},
		},
		{
			name:   "selector namespace not a DNS label",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Namespace = "Team_A" },
			errs: field.ErrorList{
				field.Invalid(sel0("namespace"), "Team_A", strings.Join(validation.IsDNS1123Label("Team_A"), "; ")),
				field.Invalid(sel0("namespace"), "Team_A", fmt.Sprintf(MsgSelectorNamespace, "team-a")),
			},
		},
		{
			name:   "selector namespace other than the policy's without namespaceSelector",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Namespace = "team-b" },
			errs:   field.ErrorList{field.Invalid(sel0("namespace"), "team-b", fmt.Sprintf(MsgSelectorNamespace, "team-a"))},
		},
		{
			name: "selector namespace with namespaceSelector in a cluster-policy namespace",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Namespace = "platform"
				p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{"tier": "prod"}}
				p.Spec.EventSelectors[0].Namespace = "team-b"
			},
		},
		{
			name:   "message not RE2",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Message = `(?<=x)y` },
			errs: field.ErrorList{field.Invalid(sel0("message"), `(?<=x)y`,
				"must be an RE2 regular expression: error parsing regexp: invalid named capture: `(?<=x)y`")},
		},
		{
			name:   "message too long is not compiled",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Message = strings.Repeat("(", 1025) },
			errs:   field.ErrorList{field.TooLong(sel0("message"), nil, 1024)},
		},
		{
			name:   "expression syntax error",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Expression = `event.reason ==` },
			errs:   field.ErrorList{field.Invalid(sel0("expression"), `event.reason ==`, celErr(`event.reason ==`))},
		},
		{
			name:   "expression unknown field",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Expression = `event.pod.name == "x"` },
			errs:   field.ErrorList{field.Invalid(sel0("expression"), `event.pod.name == "x"`, celErr(`event.pod.name == "x"`))},
		},
		{
			name: "expression over the involved object's metadata",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors[0].Expression = `object.metadata.labels['team'] == 'payments'`
			},
		},
		{
			// The caches keep metadata only: the spec never reaches object.
			name:   "expression over the involved object's spec",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Expression = `object.spec.replicas > 1` },
			errs:   field.ErrorList{field.Invalid(sel0("expression"), `object.spec.replicas > 1`, celErr(`object.spec.replicas > 1`))},
		},
		{
			name:   "expression not bool",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Expression = `event.count` },
			errs:   field.ErrorList{field.Invalid(sel0("expression"), `event.count`, celErr(`event.count`))},
		},
		{
			name: "expression too costly",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors[0].Expression = costlyExpr
			},
			errs: field.ErrorList{field.Invalid(sel0("expression"), costlyExpr, celErr(costlyExpr))},
		},
		{
			name:   "expression too long is not compiled",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Expression = strings.Repeat("x", 4097) },
			errs:   field.ErrorList{field.TooLong(sel0("expression"), nil, 4096)},
		},
		{
			name: "policy enums and bounds",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.Mode = "yolo"
				p.Spec.ConfidenceThreshold = new(-1.0)
				p.Spec.MaxRiskLevel = "none"
				p.Spec.McpTool = "-remediate"
			},
			errs: field.ErrorList{
				field.NotSupported(specPath.Child("mode"), "yolo", []string{"manual", "automatic"}),
				field.Invalid(specPath.Child("confidenceThreshold"), -1.0, "must be greater than or equal to 0"),
				field.NotSupported(specPath.Child("maxRiskLevel"), "none", []string{"low", "medium", "high"}),
				field.Invalid(specPath.Child("mcpTool"), "-remediate", MsgMcpToolPattern),
			},
		},
		{
			name:   "policy confidence infinite",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.ConfidenceThreshold = new(math.Inf(1)) },
			errs:   field.ErrorList{field.Invalid(specPath.Child("confidenceThreshold"), "+Inf", MsgNotANumber)},
		},
		{
			name:   "mcpTool too long",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpTool = strings.Repeat("t", 64) },
			errs:   field.ErrorList{field.TooLong(specPath.Child("mcpTool"), nil, 63)},
		},
		{
			name: "rate limiting bounds (eventsPerMinute >= 1)",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.RateLimiting = &v1alpha1.RateLimiting{EventsPerMinute: new(int32(0)), CooldownMinutes: new(int32(-1))}
			},
			errs: field.ErrorList{
				field.Invalid(specPath.Child("rateLimiting", "eventsPerMinute"), int32(0), "must be greater than or equal to 1"),
				field.Invalid(specPath.Child("rateLimiting", "cooldownMinutes"), int32(-1), "must be greater than or equal to 0"),
			},
		},
		{
			name: "rate limiting upper bounds",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.RateLimiting = &v1alpha1.RateLimiting{EventsPerMinute: new(int32(10001)), CooldownMinutes: new(int32(1441))}
			},
			errs: field.ErrorList{
				field.Invalid(specPath.Child("rateLimiting", "eventsPerMinute"), int32(10001), "must be less than or equal to 10000"),
				field.Invalid(specPath.Child("rateLimiting", "cooldownMinutes"), int32(1441), "must be less than or equal to 1440"),
			},
		},
		{
			name: "context gathering bounds",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.ContextGathering = &v1alpha1.ContextGathering{LogLines: new(int32(0)), MaxLogBytes: new(int64(1023)), LookbackMinutes: new(int32(1441))}
			},
			errs: field.ErrorList{
				field.Invalid(specPath.Child("contextGathering", "logLines"), int32(0), "must be greater than or equal to 1"),
				field.Invalid(specPath.Child("contextGathering", "maxLogBytes"), int64(1023), "must be greater than or equal to 1024"),
				field.Invalid(specPath.Child("contextGathering", "lookbackMinutes"), int32(1441), "must be less than or equal to 1440"),
			},
		},
		{
			name: "context gathering upper bounds",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.ContextGathering = &v1alpha1.ContextGathering{LogLines: new(int32(10001)), MaxLogBytes: new(int64(10485761)), LookbackMinutes: new(int32(0))}
			},
			errs: field.ErrorList{
				field.Invalid(specPath.Child("contextGathering", "logLines"), int32(10001), "must be less than or equal to 10000"),
				field.Invalid(specPath.Child("contextGathering", "maxLogBytes"), int64(10485761), "must be less than or equal to 10485760"),
				field.Invalid(specPath.Child("contextGathering", "lookbackMinutes"), int32(0), "must be greater than or equal to 1"),
			},
			warnings: []string{fmt.Sprintf(WarnLargeLogLines, largeLogLines)},
		},
		{
			name:   "secret ref empty",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{} },
			errs: field.ErrorList{
				field.Required(specPath.Child("mcpAuthSecretRef", "name"), ""),
				field.Required(specPath.Child("mcpAuthSecretRef", "key"), ""),
			},
		},
		{
			name: "secret ref invalid name and key",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: "My_Secret", Key: "a/b"}
			},
			errs: field.ErrorList{
				field.Invalid(specPath.Child("mcpAuthSecretRef", "name"), "My_Secret", strings.Join(validation.IsDNS1123Subdomain("My_Secret"), "; ")),
				field.Invalid(specPath.Child("mcpAuthSecretRef", "key"), "a/b", strings.Join(validation.IsConfigMapKey("a/b"), "; ")),
			},
		},
		{
			name:   "endpoint not http(s)",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = "ftp://127.0.0.1/x" },
			errs:   field.ErrorList{field.Invalid(specPath.Child("mcpEndpoint"), "ftp://127.0.0.1/x", "scheme must be http or https")},
		},
		{
			name:   "endpoint relative",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = "/api/v1/tools/remediate" },
			errs:   field.ErrorList{field.Invalid(specPath.Child("mcpEndpoint"), "/api/v1/tools/remediate", "scheme must be http or https")},
		},
		{
			name:   "endpoint without host",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = "http:///api" },
			errs:   field.ErrorList{field.Invalid(specPath.Child("mcpEndpoint"), "http:///api", "must be an absolute URL with a host")},
		},
		{
			name:   "endpoint with user info",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = "http://u:p@127.0.0.1:3456/x" },
			errs: field.ErrorList{field.Invalid(specPath.Child("mcpEndpoint"), "http://u:p@127.0.0.1:3456/x",
				"must not contain user info; use mcpAuthSecretRef for credentials")},
		},
		{
			name:   "endpoint with whitespace",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = "http://127.0.0.1:3456/api v1" },
			errs: field.ErrorList{field.Invalid(specPath.Child("mcpEndpoint"), "http://127.0.0.1:3456/api v1",
				"must not contain whitespace or control characters")},
		},
		{
			name:   "endpoint with dot segments",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = "http://127.0.0.1:3456/x/../admin" },
			errs: field.ErrorList{field.Invalid(specPath.Child("mcpEndpoint"), "http://127.0.0.1:3456/x/../admin",
				"must not contain '.' or '..' path segments")},
		},
		{
			name:   "endpoint on another port of the allowed host",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = "http://127.0.0.1:34567/x" },
			errs:   field.ErrorList{field.Forbidden(specPath.Child("mcpEndpoint"), MsgEndpointNotAllowed)},
		},
		{
			name:   "endpoint with fragment",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = "http://127.0.0.1:3456/x#y" },
			errs:   field.ErrorList{field.Invalid(specPath.Child("mcpEndpoint"), "http://127.0.0.1:3456/x#y", "must not contain a fragment")},
		},
		{
			name: "endpoint too long",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.McpEndpoint = "http://127.0.0.1/" + strings.Repeat("a", 2048)
			},
			errs: field.ErrorList{field.TooLong(specPath.Child("mcpEndpoint"), nil, 2048)},
		},
		{
			name:   "endpoint equal to the installation's",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = installEndpoint },
		},
		{
			name:   "endpoint in the allow-list",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = allowedPrefix + "mcp" },
		},
		{
			name:   "endpoint outside the allow-list without own secret (decision 1)",
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.McpEndpoint = otherEndpoint },
			errs:   field.ErrorList{field.Forbidden(specPath.Child("mcpEndpoint"), MsgEndpointNotAllowed)},
		},
		{
			name: "endpoint outside the allow-list with own secret",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.McpEndpoint = otherEndpoint
				p.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: "dot-ai-token", Key: "token"}
			},
		},
		{
			name: "plain http off-cluster with own secret warns",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.McpEndpoint = "http://mcp.example.invalid/api/v1/tools/remediate"
				p.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: "dot-ai-token", Key: "token"}
			},
			warnings: []string{WarnPlainHTTPWithToken},
		},
		{
			name: "namespaceSelector outside the cluster-policy namespaces",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{}
			},
			errs: field.ErrorList{field.Forbidden(specPath.Child("namespaceSelector"),
				fmt.Sprintf(MsgNamespaceSelectorForbidden, []string{"dot-ai", "platform"}, "team-a"))},
		},
		{
			name: "namespaceSelector over its size bounds",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Namespace = "dot-ai"
				sel := &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{}}
				for i := range v1alpha1.MaxNamespaceSelectorLabels + 1 {
					sel.MatchLabels[fmt.Sprintf("l%d", i)] = "x"
				}
				many := v1alpha1.NamespaceSelectorRequirement{Key: "tier", Operator: metav1.LabelSelectorOpIn}
				for i := range v1alpha1.MaxNamespaceSelectorValues + 1 {
					many.Values = append(many.Values, fmt.Sprintf("v%d", i))
				}
				sel.MatchExpressions = append(sel.MatchExpressions, many)
				for i := range v1alpha1.MaxNamespaceSelectorExpressions {
					sel.MatchExpressions = append(sel.MatchExpressions, v1alpha1.NamespaceSelectorRequirement{Key: fmt.Sprintf("k%d", i), Operator: metav1.LabelSelectorOpExists})
				}
				p.Spec.NamespaceSelector = sel
			},
			errs: field.ErrorList{
				field.TooMany(specPath.Child("namespaceSelector", "matchLabels"), v1alpha1.MaxNamespaceSelectorLabels+1, v1alpha1.MaxNamespaceSelectorLabels),
				field.TooMany(specPath.Child("namespaceSelector", "matchExpressions"), v1alpha1.MaxNamespaceSelectorExpressions+1, v1alpha1.MaxNamespaceSelectorExpressions),
				field.TooMany(specPath.Child("namespaceSelector", "matchExpressions").Index(0).Child("values"), v1alpha1.MaxNamespaceSelectorValues+1, v1alpha1.MaxNamespaceSelectorValues),
			},
		},
		{
			name: "namespaceSelector invalid in a cluster-policy namespace",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Namespace = "dot-ai"
				p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{MatchExpressions: []v1alpha1.NamespaceSelectorRequirement{{Key: "tier", Operator: "Like"}}}
			},
			errs: metav1validation.ValidateLabelSelector(
				&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Like"}}},
				metav1validation.LabelSelectorValidationOptions{}, specPath.Child("namespaceSelector")),
		},
		{
			name: "automatic mode risk warnings",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.Mode = v1alpha1.ModeAutomatic
				p.Spec.MaxRiskLevel = v1alpha1.RiskHigh
				p.Spec.ConfidenceThreshold = new(0.3)
				p.Spec.RateLimiting = &v1alpha1.RateLimiting{CooldownMinutes: new(int32(0))}
			},
			warnings: []string{WarnAutomaticHighRisk, WarnAutomaticLowConfidence, WarnAutomaticNoCooldown},
		},
		{
			name: "selector override to automatic high risk warns",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors[0].Mode = v1alpha1.ModeAutomatic
				p.Spec.EventSelectors[0].MaxRiskLevel = v1alpha1.RiskHigh
			},
			warnings: []string{fmt.Sprintf(WarnSelectorAutomaticHighRisk, 0)},
		},
		{
			name: "large logLines and suspend warn",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.ContextGathering = &v1alpha1.ContextGathering{LogLines: new(int32(5000))}
				p.Spec.Suspend = new(true)
			},
			warnings: []string{fmt.Sprintf(WarnLargeLogLines, largeLogLines), WarnSuspended},
		},
		{
			name: "large logLines without logs does not warn",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.ContextGathering = &v1alpha1.ContextGathering{LogLines: new(int32(5000)), IncludeLogs: new(false)}
			},
		},
		{
			name: "every error at once",
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = []v1alpha1.EventSelector{{}, {Type: "Bad"}}
				p.Spec.Mode = "x"
				p.Spec.McpEndpoint = otherEndpoint
				p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{}
			},
			errs: field.ErrorList{
				field.Invalid(selPath.Index(0), "{}", MsgSelectorWildcard),
				field.NotSupported(selPath.Index(1).Child("type"), "Bad", []string{"Normal", "Warning"}),
				field.NotSupported(specPath.Child("mode"), "x", []string{"manual", "automatic"}),
				field.Forbidden(specPath.Child("mcpEndpoint"), MsgEndpointNotAllowed),
				field.Forbidden(specPath.Child("namespaceSelector"),
					fmt.Sprintf(MsgNamespaceSelectorForbidden, []string{"dot-ai", "platform"}, "team-a")),
			},
			warnings: []string{fmt.Sprintf(WarnSelectorTypeOnly, 1, "Bad")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPolicy()
			tc.mutate(p)
			errs, warnings := Validate(testSettings(), nil, p)
			assert.ElementsMatch(t, tc.errs, errs)
			assert.ElementsMatch(t, tc.warnings, warnings)
		})
	}
}

const costlyExpr = `event.message.split(" ").all(a, event.message.split(" ").all(b, b.matches(a)))`

func TestValidateUpdate(t *testing.T) {
	invalid := func() *v1alpha1.RemediationPolicy {
		p := validPolicy()
		p.Spec.McpEndpoint = otherEndpoint // e.g. removed from the allow-list after creation
		return p
	}
	tests := []struct {
		name   string
		old    *v1alpha1.RemediationPolicy
		mutate func(p *v1alpha1.RemediationPolicy)
		errs   field.ErrorList
	}{
		{
			name:   "valid change",
			old:    validPolicy(),
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.Mode = v1alpha1.ModeManual },
		},
		{
			name:   "invalid change rejected",
			old:    validPolicy(),
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.EventSelectors[0].Type = "Bad" },
			errs:   field.ErrorList{field.NotSupported(sel0("type"), "Bad", []string{"Normal", "Warning"})},
		},
		{
			name: "metadata-only change of an invalid policy allowed",
			old:  invalid(),
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Labels = map[string]string{"a": "b"}
				p.Finalizers = []string{"x/y"}
			},
		},
		{
			name: "update of a policy being deleted allowed",
			old:  invalid(),
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
				p.Spec.Mode = v1alpha1.ModeManual
			},
		},
		{
			name:   "spec change of an invalid policy must fix it",
			old:    invalid(),
			mutate: func(p *v1alpha1.RemediationPolicy) { p.Spec.Mode = v1alpha1.ModeManual },
			errs:   field.ErrorList{field.Forbidden(specPath.Child("mcpEndpoint"), MsgEndpointNotAllowed)},
		},
		{
			name: "every field may change (no immutable fields)",
			old:  validPolicy(),
			mutate: func(p *v1alpha1.RemediationPolicy) {
				p.Spec.EventSelectors = []v1alpha1.EventSelector{{Reason: "FailedMount"}}
				p.Spec.McpEndpoint = allowedPrefix + "other"
				p.Spec.McpTool = "other"
				p.Spec.Mode = v1alpha1.ModeManual
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.old.DeepCopy()
			tc.mutate(p)
			errs, _ := Validate(testSettings(), tc.old, p)
			assert.ElementsMatch(t, tc.errs, errs)
		})
	}
}

func TestValidateNil(t *testing.T) {
	errs, _ := Validate(testSettings(), nil, nil)
	require.Len(t, errs, 1)
}

func TestFieldPath(t *testing.T) {
	root := field.NewPath("spec")
	tests := map[string]string{
		"RemediationPolicySpec.mode":                             "spec.mode",
		"RemediationPolicySpec.eventSelectors[3].type":           "spec.eventSelectors[3].type",
		"RemediationPolicySpec.rateLimiting.eventsPerMinute":     "spec.rateLimiting.eventsPerMinute",
		"RemediationPolicySpec.eventSelectors":                   "spec.eventSelectors",
		"RemediationPolicySpec.contextGathering.lookbackMinutes": "spec.contextGathering.lookbackMinutes",
		"RemediationPolicySpec.m[key]":                           "spec.m[key]",
	}
	for in, want := range tests {
		assert.Equal(t, want, fieldPath(root, in).String(), in)
	}
}

// BenchmarkValidateDefault measures the in-process cost of one admission
// (Default + Validate, including regex and CEL compilation) without the
// apiserver round trip.
func BenchmarkValidateDefault(b *testing.B) {
	s := testSettings()
	base := validPolicy()
	base.Spec.EventSelectors = []v1alpha1.EventSelector{
		{Type: v1alpha1.EventTypeWarning, Reason: "BackOff", Message: "^Back-off restarting"},
		{Reason: "OOMKilled", Expression: `event.involvedObject.kind == "Pod" && event.count > 2`},
	}
	for b.Loop() {
		p := base.DeepCopy()
		Default(s, p)
		if errs, _ := Validate(s, nil, p); len(errs) > 0 {
			b.Fatal(errs.ToAggregate())
		}
	}
}
