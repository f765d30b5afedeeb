package webhooktest

import (
	"encoding/json"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
)

// CreateReview is the AdmissionReview body the apiserver sends a webhook
// for creating p, for tests that call the webhooks directly.
func CreateReview(p *v1alpha1.RemediationPolicy, uid types.UID) ([]byte, error) {
	return review(p, uid, false)
}

// DryRunCreateReview is CreateReview for a server-side dry run: the webhook
// validates and defaults as for a create but records nothing (its admission
// record, decision 20 (docs/design/decisions.md#d20), is written only for
// objects that will be stored).
func DryRunCreateReview(p *v1alpha1.RemediationPolicy, uid types.UID) ([]byte, error) {
	return review(p, uid, true)
}

func review(p *v1alpha1.RemediationPolicy, uid types.UID, dryRun bool) ([]byte, error) {
	obj := p.DeepCopy()
	obj.TypeMeta = metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "RemediationPolicy"}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	gv := v1alpha1.GroupVersion
	return json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       uid,
			Kind:      metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: "RemediationPolicy"},
			Resource:  metav1.GroupVersionResource{Group: gv.Group, Version: gv.Version, Resource: "remediationpolicies"},
			Name:      p.Name,
			Namespace: p.Namespace,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
			DryRun:    &dryRun,
		},
	})
}
