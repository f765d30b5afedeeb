package kubeevents

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

func pod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name}}
}

func newScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	return s
}

// Each recorded Event is posted once, as events.k8s.io/v1, with what the
// caller said.
func TestRecorderPosts(t *testing.T) {
	kube := fake.NewClientset()
	r := New(kube.EventsV1(), newScheme(t), "dot-ai-controller", logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Start(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	tests := map[string]struct {
		regarding, related    runtime.Object
		typ, reason, action   string
		note                  string
		args                  []any
		wantNote, wantRelated string
	}{
		"warning with a formatted note": {regarding: pod("api-0"), typ: corev1.EventTypeWarning, reason: "Failed", action: "Record",
			note: "%s", args: []any{"dot-ai refused"}, wantNote: "dot-ai refused"},
		"normal with a related object": {regarding: pod("api-1"), related: pod("api-2"), typ: corev1.EventTypeNormal, reason: "AwaitingApproval",
			action: "Record", note: "proposal %d", args: []any{1}, wantNote: "proposal 1", wantRelated: "api-2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r.Eventf(tc.regarding, tc.related, tc.typ, tc.reason, tc.action, tc.note, tc.args...)
			var got *eventsv1.Event
			require.Eventually(t, func() bool {
				list, err := kube.EventsV1().Events("team-a").List(context.Background(), metav1.ListOptions{})
				require.NoError(t, err)
				for i := range list.Items {
					if list.Items[i].Regarding.Name == tc.regarding.(*corev1.Pod).Name {
						got = &list.Items[i]
					}
				}
				return got != nil
			}, 5*time.Second, 10*time.Millisecond)
			assert.Equal(t, tc.typ, got.Type)
			assert.Equal(t, tc.reason, got.Reason)
			assert.Equal(t, tc.action, got.Action)
			assert.Equal(t, tc.wantNote, got.Note)
			assert.Equal(t, "dot-ai-controller", got.ReportingController)
			assert.Equal(t, "Pod", got.Regarding.Kind)
			assert.False(t, got.EventTime.IsZero())
			if tc.wantRelated != "" {
				require.NotNil(t, got.Related)
				assert.Equal(t, tc.wantRelated, got.Related.Name)
			} else {
				assert.Nil(t, got.Related)
			}
		})
	}
}

// A full queue drops the Event and counts it; Eventf never waits for the
// apiserver.
func TestRecorderDropsWhenFull(t *testing.T) {
	r := New(fake.NewClientset().EventsV1(), newScheme(t), "dot-ai-controller", logr.Discard()) // not started
	before := testutil.ToFloat64(metricEvents.WithLabelValues("dropped"))
	start := time.Now()
	for range QueueSize + 5 {
		r.Eventf(pod("api-0"), nil, corev1.EventTypeNormal, "Succeeded", "Record", "done")
	}
	assert.Less(t, time.Since(start), time.Second, "never blocks")
	assert.Len(t, r.queue, QueueSize)
	assert.InDelta(t, 5, testutil.ToFloat64(metricEvents.WithLabelValues("dropped"))-before, 0)
}

// An object the scheme cannot name is not recorded.
func TestRecorderUnknownObject(t *testing.T) {
	r := New(fake.NewClientset().EventsV1(), runtime.NewScheme(), "dot-ai-controller", logr.Discard())
	r.Eventf(pod("api-0"), nil, corev1.EventTypeNormal, "Succeeded", "Record", "done")
	assert.Empty(t, r.queue)
}
