// Package kubeclient builds the controller's client-go clientsets, which
// read only built-in types (Events, Pods, workloads, logs).
package kubeclient

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// New returns a clientset for built-in types that speaks protobuf, as
// kube-controller-manager does: the Event watch and the enrichment reads
// are the controller's largest decodes, and protobuf costs the apiserver
// and the controller a fraction of JSON's CPU and garbage (docs/benchmarks.md,
// "Enrichment end to end"). qps and burst are the client-side limits
// (qps -1: none). controller-runtime's client is left as it is: it already
// uses protobuf for built-in types and must use JSON for the CRDs.
func New(cfg *rest.Config, qps float32, burst int) (kubernetes.Interface, error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = qps, burst
	c.ContentType = runtime.ContentTypeProtobuf
	c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return kubernetes.NewForConfig(c)
}
