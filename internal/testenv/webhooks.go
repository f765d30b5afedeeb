package testenv

import (
	"strings"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"dot-ai.io/controller/api/v1alpha1"
)

// WebhookOptions returns envtest webhook install options that make the
// apiserver call RemediationPolicy webhooks at mutatePath and validatePath
// on a loopback TLS server (envtest generates its CA and serving cert, and
// rewrites the Service reference to https://127.0.0.1:<port>/<path>).
func WebhookOptions(mutatePath, validatePath string) *envtest.WebhookInstallOptions {
	fail := admissionregv1.Fail
	none := admissionregv1.SideEffectClassNone
	// The validating webhook records admitted specs, never on a dry run.
	noneOnDryRun := admissionregv1.SideEffectClassNoneOnDryRun
	rules := []admissionregv1.RuleWithOperations{{
		Operations: []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update},
		Rule: admissionregv1.Rule{
			APIGroups:   []string{v1alpha1.GroupVersion.Group},
			APIVersions: []string{v1alpha1.GroupVersion.Version},
			Resources:   []string{"remediationpolicies"},
		},
	}}
	svc := func(path string) admissionregv1.WebhookClientConfig {
		p := strings.TrimPrefix(path, "/")
		return admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{Name: "dot-ai-controller-webhook", Namespace: "dot-ai", Path: &p}}
	}
	return &envtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregv1.MutatingWebhookConfiguration{{
			ObjectMeta: metav1.ObjectMeta{Name: "dot-ai-controller"},
			Webhooks: []admissionregv1.MutatingWebhook{{
				Name: "mremediationpolicy.dot-ai.io", ClientConfig: svc(mutatePath), Rules: rules,
				FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			}},
		}},
		ValidatingWebhooks: []*admissionregv1.ValidatingWebhookConfiguration{{
			ObjectMeta: metav1.ObjectMeta{Name: "dot-ai-controller"},
			Webhooks: []admissionregv1.ValidatingWebhook{{
				Name: "vremediationpolicy.dot-ai.io", ClientConfig: svc(validatePath), Rules: rules,
				FailurePolicy: &fail, SideEffects: &noneOnDryRun, AdmissionReviewVersions: []string{"v1"},
			}},
		}},
	}
}

// WithRemediationWebhooks adds to o (nil: new options) the Remediation
// webhooks as the chart renders them: failurePolicy Fail, the mutating one on
// updates, the validating one on creates and updates of remediations and
// remediations/status, and neither for controllerUser (a match condition),
// so the controller's own writes never wait on its webhook.
func WithRemediationWebhooks(o *envtest.WebhookInstallOptions, mutatePath, validatePath, controllerUser string) *envtest.WebhookInstallOptions {
	if o == nil {
		o = &envtest.WebhookInstallOptions{}
	}
	fail := admissionregv1.Fail
	none := admissionregv1.SideEffectClassNone
	rule := func(ops []admissionregv1.OperationType, resources ...string) []admissionregv1.RuleWithOperations {
		return []admissionregv1.RuleWithOperations{{Operations: ops, Rule: admissionregv1.Rule{
			APIGroups: []string{v1alpha1.GroupVersion.Group}, APIVersions: []string{v1alpha1.GroupVersion.Version}, Resources: resources,
		}}}
	}
	notController := []admissionregv1.MatchCondition{{Name: "not-the-controller", Expression: "request.userInfo.username != '" + controllerUser + "'"}}
	svc := func(path string) admissionregv1.WebhookClientConfig {
		p := strings.TrimPrefix(path, "/")
		return admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{Name: "dot-ai-controller-webhook", Namespace: "dot-ai", Path: &p}}
	}
	o.MutatingWebhooks = append(o.MutatingWebhooks, &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "dot-ai-controller-remediations"},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name: "mutate.remediations.remediation.dot-ai.io", ClientConfig: svc(mutatePath),
			Rules: rule([]admissionregv1.OperationType{admissionregv1.Update}, "remediations"), MatchConditions: notController,
			FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
		}},
	})
	o.ValidatingWebhooks = append(o.ValidatingWebhooks, &admissionregv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "dot-ai-controller-remediations"},
		Webhooks: []admissionregv1.ValidatingWebhook{{
			Name: "validate.remediations.remediation.dot-ai.io", ClientConfig: svc(validatePath),
			Rules:           rule([]admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update}, "remediations", "remediations/status"),
			MatchConditions: notController,
			FailurePolicy:   &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
		}},
	})
	return o
}
