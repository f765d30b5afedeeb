package harness

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// resolveEnv evaluates the container's env as the kubelet would, for a pod
// of this Deployment.
func resolveEnv(ctx context.Context, kube kubernetes.Interface, d *appsv1.Deployment, ct corev1.Container) (map[string]string, error) {
	env := map[string]string{}
	podName := d.Name + "-local"
	for _, e := range ct.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expand(e.Value, env)
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.namespace":
				env[e.Name] = d.Namespace
			case "metadata.name":
				env[e.Name] = podName
			case "spec.serviceAccountName":
				env[e.Name] = d.Spec.Template.Spec.ServiceAccountName
			case "spec.nodeName":
				env[e.Name] = "local"
			case "status.podIP", "status.hostIP":
				env[e.Name] = "127.0.0.1"
			default:
				return nil, fmt.Errorf("env %s: fieldRef %q not supported by the harness", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err := resourceValue(ct, e.ValueFrom.ResourceFieldRef)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			env[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, err := kube.CoreV1().Secrets(d.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			env[e.Name] = string(s.Data[ref.Key])
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, err := kube.CoreV1().ConfigMaps(d.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			env[e.Name] = cm.Data[ref.Key]
		default:
			return nil, fmt.Errorf("env %s: valueFrom not supported by the harness", e.Name)
		}
	}
	return env, nil
}

// resourceValue is what the kubelet puts in a resourceFieldRef variable:
// the container's limit or request divided by the divisor, rounded up. An
// unset limit would be the node's allocatable; "0" here (no limit).
func resourceValue(ct corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	list := ct.Resources.Limits
	name, ok := strings.CutPrefix(ref.Resource, "limits.")
	if !ok {
		list = ct.Resources.Requests
		if name, ok = strings.CutPrefix(ref.Resource, "requests."); !ok {
			return "", fmt.Errorf("resourceFieldRef %q not supported by the harness", ref.Resource)
		}
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		return "0", nil
	}
	divisor := int64(1)
	if !ref.Divisor.IsZero() {
		divisor = ref.Divisor.Value()
	}
	return strconv.FormatInt((q.Value()+divisor-1)/divisor, 10), nil
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand replaces $(VAR) with env values, as the kubelet does for args.
func expand(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}
