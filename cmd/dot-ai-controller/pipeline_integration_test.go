package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/internal/testenv"
	"dot-ai.io/controller/internal/webhook"
)

// TestPipelineAgainstRealAPIServer runs the wired binary in-process: the real
// apiserver calls its webhooks over TLS, and a Warning event selected by a
// policy reaches a stub MCP server with the installation token; the outcome
// lands in the policy's status and Events.
func TestPipelineAgainstRealAPIServer(t *testing.T) {
	const token = "installation-token"
	stub := mcptest.New(mcptest.Options{Token: token})
	require.NoError(t, stub.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = stub.Close() })

	env := testenv.Start(t, testenv.Options{Webhooks: testenv.WebhookOptions(webhook.MutatePath, webhook.ValidatePath)})
	ctx := t.Context()
	c := env.Client
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}))
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	wo := env.WebhookInstallOptions
	startController(t, env,
		fmt.Sprintf("--webhook-port=%d", wo.LocalServingPort),
		"--webhook-cert-dir="+wo.LocalServingCertDir,
		"--mcp-endpoint="+stub.URL(),
		"--mcp-token-file="+tokenFile,
		"--leader-elect=false",
		"--default-log-lines=42",
		"--default-cooldown-minutes=30",
	)

	// An invalid policy is rejected with every failing field.
	bad := &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "team-a"},
		Spec: v1alpha1.RemediationPolicySpec{
			EventSelectors:    []v1alpha1.EventSelector{{Message: "(unclosed"}},
			McpEndpoint:       "http://user:pw@127.0.0.1:1/x",
			NamespaceSelector: &v1alpha1.NamespaceSelector{},
		},
	}
	err := c.Create(ctx, bad)
	require.Error(t, err)
	require.True(t, apierrors.IsInvalid(err), err.Error())
	var fields []string
	for _, cause := range err.(apierrors.APIStatus).Status().Details.Causes {
		fields = append(fields, cause.Field)
	}
	assert.Subset(t, fields, []string{"spec.eventSelectors[0].message", "spec.mcpEndpoint", "spec.namespaceSelector"})

	// A minimal policy comes back defaulted from the installation's settings.
	p := &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "crash-loops", Namespace: "team-a"},
		Spec: v1alpha1.RemediationPolicySpec{EventSelectors: []v1alpha1.EventSelector{
			{Type: v1alpha1.EventTypeWarning, Reason: "BackOff", InvolvedObjectKind: "Pod"},
		}},
	}
	require.NoError(t, c.Create(ctx, p))
	assert.Equal(t, v1alpha1.ModeManual, p.Spec.Mode)
	require.NotNil(t, p.Spec.ContextGathering)
	assert.Equal(t, ptr.To[int32](42), p.Spec.ContextGathering.LogLines)
	assert.Empty(t, p.Spec.McpEndpoint, "the installation endpoint is resolved at delivery time, not copied")

	// A crash-looping pod's BackOff event reaches the MCP exactly once.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "api-7d9f-abcde", Namespace: "team-a"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.local/api:1"}}},
	}
	require.NoError(t, c.Create(ctx, pod))
	for i := range 2 {
		require.NoError(t, c.Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("api.backoff-%d", i), Namespace: "team-a"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod.Name, Namespace: "team-a", UID: pod.UID, APIVersion: "v1"},
			Type:           corev1.EventTypeWarning,
			Reason:         "BackOff",
			Message:        "Back-off restarting failed container api in pod api-7d9f-abcde_team-a",
			Count:          1,
			FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(),
			Source: corev1.EventSource{Component: "kubelet"},
		}))
	}
	// Not selected: a Normal event.
	require.NoError(t, c.Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "api.pulled", Namespace: "team-a"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod.Name, Namespace: "team-a", UID: pod.UID},
		Type:           corev1.EventTypeNormal, Reason: "Pulled", Message: "Successfully pulled image",
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(),
	}))

	require.Eventually(t, func() bool { return stub.Count() >= 1 }, 30*time.Second, 100*time.Millisecond)
	req := stub.Requests()[0]
	assert.Equal(t, "Bearer "+token, req.Header.Get("Authorization"))
	assert.NotEmpty(t, req.Header.Get("Idempotency-Key"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(req.Body, &body))
	assert.Equal(t, "manual", body["mode"])
	assert.Contains(t, body["issue"], "BackOff")
	assert.Contains(t, body, "context")

	// The second event of the same pod and reason is held by the cooldown,
	// and every matching event is counted exactly once.
	got := &v1alpha1.RemediationPolicy{}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.NoError(ct, c.Get(ctx, client.ObjectKeyFromObject(p), got))
		assert.EqualValues(ct, 2, got.Status.TotalEventsProcessed)
		assert.EqualValues(ct, 1, got.Status.AnalysesCompleted)
		assert.EqualValues(ct, 1, got.Status.CooledDownEvents)
		ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
		if assert.NotNil(ct, ready) {
			assert.Equal(ct, metav1.ConditionTrue, ready.Status)
		}
		assert.Equal(ct, got.Generation, got.Status.ObservedGeneration)
	}, 30*time.Second, 200*time.Millisecond)
	assert.Equal(t, 1, stub.Count(), "cooldown holds")
	assert.Equal(t, stub.URL(), got.Status.EffectiveMcpEndpoint)
	require.NotEmpty(t, got.Status.RecentOutcomes)
	assert.Equal(t, v1alpha1.OutcomeAnalysisCompleted, got.Status.RecentOutcomes[0].Result)
	assert.NotEmpty(t, got.Status.RecentOutcomes[0].SessionID)

	// The outcome is also a Kubernetes Event on the policy.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var list corev1.EventList
		assert.NoError(ct, c.List(ctx, &list, client.InNamespace("team-a")))
		found := false
		for _, e := range list.Items {
			if e.InvolvedObject.Kind == "RemediationPolicy" && e.InvolvedObject.Name == p.Name {
				found = true
			}
		}
		assert.True(ct, found, "an Event on the policy")
	}, 30*time.Second, 200*time.Millisecond)

	// A policy written while the validating webhook is bypassed (here: its
	// configuration deleted, as failurePolicy: Ignore would during an
	// outage) never passed the access checks: the watcher refuses to act on
	// it (decision 20 (docs/design/decisions.md#d20)).
	var vwc admissionregistrationv1.ValidatingWebhookConfigurationList
	require.NoError(t, c.List(ctx, &vwc))
	for i := range vwc.Items {
		require.NoError(t, c.Delete(ctx, &vwc.Items[i]))
	}
	sneaky := &v1alpha1.RemediationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "sneaky", Namespace: "team-a"},
		Spec:       *p.Spec.DeepCopy(),
	}
	sneaky.Spec.EventSelectors[0].Reason = "Failed"
	require.NoError(t, c.Create(ctx, sneaky))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.NoError(ct, c.Get(ctx, client.ObjectKeyFromObject(sneaky), got))
		ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
		if assert.NotNil(ct, ready) {
			assert.Equal(ct, v1alpha1.ReasonInvalidSpec, ready.Reason)
			assert.Contains(ct, ready.Message, "did not pass the validating webhook")
		}
	}, 30*time.Second, 200*time.Millisecond)
	// The admitted policy stays Ready.
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(p), got))
	assert.Equal(t, metav1.ConditionTrue, meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Status)
}
