package remediation

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/testenv"
)

// newFakeRecords is a Records on controller-runtime's fake client, which
// gives created objects a UID as the API server does.
func newFakeRecords(t testing.TB, clk *clocktesting.FakeClock, set config.Remediations) *Records {
	t.Helper()
	var uids atomic.Int64
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).
		WithStatusSubresource(&v1alpha1.Remediation{}).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if obj.GetUID() == "" {
				obj.SetUID(types.UID(fmt.Sprintf("uid-%d", uids.Add(1))))
			}
			obj.SetCreationTimestamp(metav1.NewTime(clk.Now()))
			return c.Create(ctx, obj, opts...)
		}}).Build()
	return &Records{
		Client: c, Reader: c,
		Sealer:   &Sealer{Namespace: "dot-ai", Name: config.DefaultSealSecret, Reader: c, Writer: c},
		Index:    NewIndex(),
		Settings: set,
		Clock:    clk,
		Log:      logr.Discard(),
	}
}

// occurrence builds the record of occurrence i of policy p in ns.
func occurrence(p *v1alpha1.RemediationPolicy, ns string, i int, mode v1alpha1.RemediationMode) *v1alpha1.Remediation {
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("ev-%d", i), UID: types.UID(fmt.Sprintf("ev-uid-%d", i))},
		Reason:         "BackOff",
		Message:        "Back-off restarting failed container",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "api", Namespace: ns},
	}
	req := delivery.Request{Policy: p, Event: ev, OccurrenceKey: fmt.Sprintf("%s/%s/1", p.UID, ev.UID), Effective: policy.Effective{Mode: mode}}
	return New(Occurrence{Request: req, Count: 1, Time: time.Unix(1_700_000_000, 0), URL: "http://127.0.0.1:3456/api/v1/tools/remediate"})
}

func testPolicy() *v1alpha1.RemediationPolicy {
	return &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "dot-ai", Name: "p", UID: "policy-uid"}}
}
