package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestResolveEnv(t *testing.T) {
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ctrl", Namespace: "dot-ai"},
		Spec:       appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{ServiceAccountName: "ctrl-sa"}}},
	}
	kube := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token", Namespace: "dot-ai"}, Data: map[string][]byte{"token": []byte("s3cret")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "dot-ai"}, Data: map[string]string{"level": "debug"}},
	)
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	limits := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}
	tests := map[string]struct {
		env        []corev1.EnvVar
		want       map[string]string
		errMessage string
	}{
		"values expand earlier variables": {
			env:  []corev1.EnvVar{{Name: "A", Value: "x"}, {Name: "B", Value: "$(A)-y-$(C)"}},
			want: map[string]string{"A": "x", "B": "x-y-$(C)"},
		},
		"field references as for a local pod": {
			env: []corev1.EnvVar{
				{Name: "NS", ValueFrom: field("metadata.namespace")}, {Name: "POD", ValueFrom: field("metadata.name")},
				{Name: "SA", ValueFrom: field("spec.serviceAccountName")}, {Name: "NODE", ValueFrom: field("spec.nodeName")},
				{Name: "IP", ValueFrom: field("status.podIP")}, {Name: "HOST", ValueFrom: field("status.hostIP")},
			},
			want: map[string]string{"NS": "dot-ai", "POD": "ctrl-local", "SA": "ctrl-sa", "NODE": "local", "IP": "127.0.0.1", "HOST": "127.0.0.1"},
		},
		"resource, Secret and ConfigMap references": {
			env: []corev1.EnvVar{
				{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}},
				{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "token"}, Key: "token"}}},
				{Name: "LEVEL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "level"}}},
			},
			want: map[string]string{"MEM": "268435456", "TOKEN": "s3cret", "LEVEL": "debug"},
		},
		"unsupported field reference": {
			env:        []corev1.EnvVar{{Name: "UID", ValueFrom: field("metadata.uid")}},
			errMessage: `env UID: fieldRef "metadata.uid" not supported by the harness`,
		},
		"missing Secret": {
			env:        []corev1.EnvVar{{Name: "T", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k"}}}},
			errMessage: "env T:",
		},
		"empty valueFrom": {
			env:        []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{}}},
			errMessage: "env X: valueFrom not supported by the harness",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ct := corev1.Container{Env: tc.env, Resources: corev1.ResourceRequirements{Limits: limits}}
			got, err := resolveEnv(t.Context(), kube, deploy, ct)
			checkCase(t, tc.want, got, tc.errMessage, err)
		})
	}
}

func TestResourceValue(t *testing.T) {
	ct := corev1.Container{Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi"), corev1.ResourceCPU: resource.MustParse("1500m")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
	}}
	tests := map[string]struct {
		resource, divisor string
		want, errMessage  string
	}{
		"memory limit in bytes":       {resource: "limits.memory", want: "104857600"},
		"memory limit in Mi":          {resource: "limits.memory", divisor: "1Mi", want: "100"},
		"cpu limit rounds up":         {resource: "limits.cpu", want: "2"},
		"unset limit is zero":         {resource: "limits.ephemeral-storage", want: "0"},
		"neither limits nor requests": {resource: "memory", errMessage: `resourceFieldRef "memory" not supported`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ref := &corev1.ResourceFieldSelector{Resource: tc.resource}
			if tc.divisor != "" {
				ref.Divisor = resource.MustParse(tc.divisor)
			}
			got, err := resourceValue(ct, ref)
			checkCase(t, tc.want, got, tc.errMessage, err)
		})
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"NS": "dot-ai", "EMPTY": ""}
	tests := map[string]struct{ in, want string }{
		"one reference":        {in: "--namespace=$(NS)", want: "--namespace=dot-ai"},
		"two references":       {in: "$(NS)/$(NS)", want: "dot-ai/dot-ai"},
		"unknown stays":        {in: "$(OTHER)", want: "$(OTHER)"},
		"empty value":          {in: "a$(EMPTY)b", want: "ab"},
		"shell syntax ignored": {in: "${NS} $NS", want: "${NS} $NS"},
		"invalid name ignored": {in: "$(1NS)", want: "$(1NS)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, expand(tc.in, env))
		})
	}
}
