package kubeclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// The clientset asks for protobuf first and still reads a JSON answer (an
// aggregated API server may not speak protobuf).
func TestNewAsksForProtobufAndReadsJSON(t *testing.T) {
	var accept string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept = r.Header.Get("Accept")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"ns"}}`))
	}))
	defer srv.Close()
	kube, err := New(&rest.Config{Host: srv.URL}, -1, 0)
	require.NoError(t, err)
	pod, err := kube.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "p", pod.Name)
	assert.Equal(t, "application/vnd.kubernetes.protobuf,application/json", accept)
}
