// Package v1alpha1 contains the RemediationPolicy API of the
// remediation.dot-ai.io group.
// +kubebuilder:object:generate=true
// +groupName=remediation.dot-ai.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "remediation.dot-ai.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this API with a scheme. It is
	// apimachinery's builder, not controller-runtime's (deprecated, and an
	// API package should depend on apimachinery only).
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this API to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &RemediationPolicy{}, &RemediationPolicyList{}, &ControllerState{}, &ControllerStateList{},
		&Remediation{}, &RemediationList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
