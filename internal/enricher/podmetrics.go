package enricher

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// MetricsSource reads a Pod's current usage.
type MetricsSource interface {
	PodMetrics(ctx context.Context, namespace, name string) (*PodMetrics, error)
}

// ErrMetricsNotServed says metrics.k8s.io is not served (no metrics-server).
var ErrMetricsNotServed = errors.New("metrics.k8s.io is not served")

type kubeMetrics struct{ restClient rest.Interface }

func newKubeMetrics(k kubernetes.Interface) MetricsSource {
	rc := k.CoreV1().RESTClient()
	if rc == nil || (reflect.ValueOf(rc).Kind() == reflect.Pointer && reflect.ValueOf(rc).IsNil()) {
		return nil
	}
	return kubeMetrics{restClient: rc}
}

func (k kubeMetrics) PodMetrics(ctx context.Context, namespace, name string) (*PodMetrics, error) {
	raw, err := k.restClient.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", namespace, "pods", name).DoRaw(ctx)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, ErrMetricsNotServed
		}
		return nil, err
	}
	var pm struct {
		Window     string `json:"window"`
		Containers []struct {
			Name  string            `json:"name"`
			Usage map[string]string `json:"usage"`
		} `json:"containers"`
	}
	if err := json.Unmarshal(raw, &pm); err != nil {
		return nil, err
	}
	out := &PodMetrics{Pod: name, Window: pm.Window}
	for _, c := range pm.Containers {
		out.Containers = append(out.Containers, ContainerUsage{Name: c.Name, CPU: c.Usage["cpu"], Memory: c.Usage["memory"]})
	}
	return out, nil
}
