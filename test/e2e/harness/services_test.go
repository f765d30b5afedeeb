package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestContainerPort(t *testing.T) {
	named := map[string]int32{"webhook": 9443, "metrics": 8443}
	tests := map[string]struct {
		port corev1.ServicePort
		want int32
	}{
		"named target":      {port: corev1.ServicePort{Port: 443, TargetPort: intstr.FromString("webhook")}, want: 9443},
		"unknown name":      {port: corev1.ServicePort{Port: 443, TargetPort: intstr.FromString("grpc")}, want: 0},
		"numbered target":   {port: corev1.ServicePort{Port: 8443, TargetPort: intstr.FromInt32(9000)}, want: 9000},
		"no target is port": {port: corev1.ServicePort{Port: 8081}, want: 8081},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, containerPort(tc.port, named))
		})
	}
}

func TestSelects(t *testing.T) {
	labels := map[string]string{"app": "ctrl", "tier": "control"}
	tests := map[string]struct {
		selector map[string]string
		want     bool
	}{
		"subset":        {selector: map[string]string{"app": "ctrl"}, want: true},
		"all":           {selector: labels, want: true},
		"other value":   {selector: map[string]string{"app": "web"}, want: false},
		"missing label": {selector: map[string]string{"zone": "a"}, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, selects(tc.selector, labels))
		})
	}
}
