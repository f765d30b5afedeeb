package v1alpha1_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/testenv"
)

// One control plane serves every subtest: starting one takes seconds.
func TestCRDAgainstRealAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := t.Context()
	c := env.Client

	t.Run("valid policy round-trips with every field", func(t *testing.T) {
		p := validPolicy("full")
		p.Spec.EventSelectors[0].Expression = `event.count > 3`
		p.Spec.McpEndpoint = "http://127.0.0.1:3456/api/v1/tools/remediate"
		p.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: "dot-ai", Key: "token"}
		p.Spec.ConfidenceThreshold = new(0.85)
		p.Spec.ContextGathering = &v1alpha1.ContextGathering{LogLines: ptr.To[int32](50), LookbackMinutes: ptr.To[int32](10)}
		require.NoError(t, c.Create(ctx, p))
		got := &v1alpha1.RemediationPolicy{}
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), got))
		assert.Equal(t, p.Spec, got.Spec)
		assert.InDelta(t, 0.85, *got.Spec.ConfidenceThreshold, 1e-9, "a JSON number, not a string")
	})

	t.Run("schema sets no policy defaults (the webhook does)", func(t *testing.T) {
		p := validPolicy("bare")
		require.NoError(t, c.Create(ctx, p))
		assert.Empty(t, p.Spec.Mode)
		assert.Nil(t, p.Spec.ContextGathering)
		assert.Nil(t, p.Spec.RateLimiting)
	})

	bounds := map[string]struct {
		mutate func(*v1alpha1.RemediationPolicy)
		field  string
	}{
		"logLines 0": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.ContextGathering = &v1alpha1.ContextGathering{LogLines: ptr.To[int32](0)}
		}, "spec.contextGathering.logLines"},
		"logLines above 10000": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.ContextGathering = &v1alpha1.ContextGathering{LogLines: ptr.To[int32](10001)}
		}, "spec.contextGathering.logLines"},
		"lookbackMinutes above 1440": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.ContextGathering = &v1alpha1.ContextGathering{LookbackMinutes: ptr.To[int32](1441)}
		}, "spec.contextGathering.lookbackMinutes"},
		"33 selectors": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.EventSelectors = nil
			for i := range 33 {
				p.Spec.EventSelectors = append(p.Spec.EventSelectors, v1alpha1.EventSelector{Reason: fmt.Sprintf("R%d", i)})
			}
		}, "spec.eventSelectors"},
		"no selectors": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.EventSelectors = []v1alpha1.EventSelector{}
		}, "spec.eventSelectors"},
		"bad mode enum": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.Mode = "yolo"
		}, "spec.mode"},
		"bad selector type enum": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.EventSelectors[0].Type = "Error"
		}, "spec.eventSelectors[0].type"},
		"bad risk enum": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.MaxRiskLevel = "extreme"
		}, "spec.maxRiskLevel"},
		"confidence above 1": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.ConfidenceThreshold = new(1.5)
		}, "spec.confidenceThreshold"},
		"eventsPerMinute 0": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.RateLimiting = &v1alpha1.RateLimiting{EventsPerMinute: ptr.To[int32](0)}
		}, "spec.rateLimiting.eventsPerMinute"},
		"reason too long": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.EventSelectors[0].Reason = strings.Repeat("a", 129)
		}, "spec.eventSelectors[0].reason"},
		"secret ref without key": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: "s"}
		}, "spec.mcpAuthSecretRef.key"},
		"33 namespaceSelector labels": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{MatchLabels: map[string]string{}}
			for i := range v1alpha1.MaxNamespaceSelectorLabels + 1 {
				p.Spec.NamespaceSelector.MatchLabels[fmt.Sprintf("l%d", i)] = "x"
			}
		}, "spec.namespaceSelector.matchLabels"},
		"17 namespaceSelector expressions": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{}
			for i := range v1alpha1.MaxNamespaceSelectorExpressions + 1 {
				p.Spec.NamespaceSelector.MatchExpressions = append(p.Spec.NamespaceSelector.MatchExpressions,
					v1alpha1.NamespaceSelectorRequirement{Key: fmt.Sprintf("k%d", i), Operator: metav1.LabelSelectorOpExists})
			}
		}, "spec.namespaceSelector.matchExpressions"},
		"65 values in a namespaceSelector expression": {func(p *v1alpha1.RemediationPolicy) {
			r := v1alpha1.NamespaceSelectorRequirement{Key: "tier", Operator: metav1.LabelSelectorOpIn}
			for i := range v1alpha1.MaxNamespaceSelectorValues + 1 {
				r.Values = append(r.Values, fmt.Sprintf("v%d", i))
			}
			p.Spec.NamespaceSelector = &v1alpha1.NamespaceSelector{MatchExpressions: []v1alpha1.NamespaceSelectorRequirement{r}}
		}, "spec.namespaceSelector.matchExpressions[0].values"},
		"mcpTool with a slash": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.McpTool = "../admin"
		}, "spec.mcpTool"},
		"notification filter kind": {func(p *v1alpha1.RemediationPolicy) {
			p.Spec.Notifications = &v1alpha1.Notifications{Webhook: &v1alpha1.NotificationDestination{
				WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "h", Key: "url"},
				Filter:              &v1alpha1.NotificationFilter{Outcomes: []v1alpha1.NotificationOutcomeKind{"all"}}}}
		}, "spec.notifications.webhook.filter.outcomes[0]"},
	}
	for name, tc := range bounds {
		t.Run("rejects "+name, func(t *testing.T) {
			p := validPolicy("bad-" + strings.ReplaceAll(strings.ToLower(name), " ", "-"))
			tc.mutate(p)
			err := c.Create(ctx, p)
			require.Error(t, err)
			require.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
			assert.Contains(t, causeFields(err), tc.field)
		})
	}

	t.Run("rejects unknown fields", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": v1alpha1.GroupVersion.String(), "kind": "RemediationPolicy",
			"metadata": map[string]any{"name": "typo", "namespace": "default"},
			"spec":     map[string]any{"eventSelectors": []any{map[string]any{"reason": "BackOff"}}, "modee": "manual"},
		}}
		err := c.Create(ctx, u, client.FieldValidation(metav1.FieldValidationStrict))
		require.Error(t, err)
		assert.Contains(t, err.Error(), `unknown field "spec.modee"`)
	})

	t.Run("status is a subresource with bounded outcomes", func(t *testing.T) {
		p := validPolicy("status")
		require.NoError(t, c.Create(ctx, p))
		// A spec write does not change status.
		p.Status.TotalEventsProcessed = 7
		require.NoError(t, c.Update(ctx, p))
		got := &v1alpha1.RemediationPolicy{}
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), got))
		assert.Zero(t, got.Status.TotalEventsProcessed)

		got.Status.TotalEventsProcessed = 7
		got.Status.AnalysesCompleted = 7
		got.Status.ObservedGeneration = got.Generation
		got.Status.Conditions = []metav1.Condition{
			{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonActive, Message: "Delivering events", LastTransitionTime: metav1.Now()},
			{Type: v1alpha1.ConditionDelivering, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonDeliveryFailing, Message: "3 deliveries in a row failed; the last with HTTP_500", LastTransitionTime: metav1.Now()},
		}
		require.NoError(t, c.Status().Update(ctx, got))
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), got))
		assert.EqualValues(t, 7, got.Status.TotalEventsProcessed)

		for i := range v1alpha1.MaxRecentOutcomes + 1 {
			got.Status.RecentOutcomes = append(got.Status.RecentOutcomes, v1alpha1.RemediationOutcome{
				Event: fmt.Sprintf("default/e%d", i), Time: metav1.Now(), Result: v1alpha1.OutcomeAnalysisCompleted,
			})
		}
		err := c.Status().Update(ctx, got)
		require.Error(t, err, "status.recentOutcomes must stay bounded")
		assert.Contains(t, causeFields(err), "status.recentOutcomes")

		// Newest first: the printer column shows the first one's result.
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), got))
		got.Status.RecentOutcomes = []v1alpha1.RemediationOutcome{
			{Event: "default/e2", Time: metav1.Now(), Result: v1alpha1.OutcomeDeliveryFailed},
			{Event: "default/e1", Time: metav1.Now(), Result: v1alpha1.OutcomeAnalysisCompleted},
		}
		require.NoError(t, c.Status().Update(ctx, got))
	})

	t.Run("printer columns", func(t *testing.T) {
		rc, err := rest.RESTClientFor(restConfigFor(env))
		require.NoError(t, err)
		raw, err := rc.Get().AbsPath("/apis/remediation.dot-ai.io/v1alpha1/namespaces/default/remediationpolicies/status").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
		require.NoError(t, err)
		var table metav1.Table
		require.NoError(t, json.Unmarshal(raw, &table))
		var names []string
		for _, col := range table.ColumnDefinitions {
			names = append(names, col.Name)
		}
		assert.Equal(t, []string{"Name", "Ready", "Delivering", "Mode", "Events", "Succeeded", "Failed", "Last-Outcome", "Age"}, names)
		require.Len(t, table.Rows, 1)
		assert.Equal(t, []any{"status", "True", "False", nil, int64(7), nil, nil, "DeliveryFailed"}, table.Rows[0].Cells[:8])
	})

	t.Run("kubectl explain shows field docs", func(t *testing.T) {
		admin, err := env.ControlPlane.AddUser(envtest.User{Name: "explain", Groups: []string{"system:masters"}}, nil)
		require.NoError(t, err)
		kubectl, err := admin.Kubectl()
		require.NoError(t, err)
		stdout, stderr, err := kubectl.Run("explain", "remediationpolicy.spec.eventSelectors")
		errOut, _ := io.ReadAll(stderr)
		require.NoError(t, err, string(errOut))
		out, _ := io.ReadAll(stdout)
		for _, want := range []string{"eventSelectors select the events this policy acts on", "reason", "expression", "CEL expression", "involvedObjectKind"} {
			assert.Contains(t, string(out), want)
		}
		stdout, _, err = kubectl.Run("get", "rp", "-n", "default", "status")
		require.NoError(t, err, "short name rp")
		out, _ = io.ReadAll(stdout)
		assert.Contains(t, string(out), "READY")
	})
}

func validPolicy(name string) *v1alpha1.RemediationPolicy {
	return &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1alpha1.RemediationPolicySpec{
			EventSelectors: []v1alpha1.EventSelector{{Type: v1alpha1.EventTypeWarning, Reason: "BackOff", InvolvedObjectKind: "Pod"}},
		},
	}
}

func causeFields(err error) []string {
	var fields []string
	if s, ok := err.(apierrors.APIStatus); ok && s.Status().Details != nil {
		for _, c := range s.Status().Details.Causes {
			fields = append(fields, c.Field)
		}
	}
	return fields
}

func restConfigFor(env *testenv.Env) *rest.Config {
	cfg := rest.CopyConfig(env.Config)
	cfg.GroupVersion = &v1alpha1.GroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = serializerFor()
	return cfg
}

var _ runtime.Object = &v1alpha1.RemediationPolicy{}

func serializerFor() runtime.NegotiatedSerializer {
	return serializer.NewCodecFactory(testenv.Scheme()).WithoutConversion()
}
