package dotai

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/internal/testenv"
)

// informerIndex is a enricher.EventSource over an Event informer, as the
// watcher provides it.
type informerIndex struct{ indexer cache.Indexer }

func (x informerIndex) EventsFor(_ context.Context, namespace, kind, name string) ([]*corev1.Event, error) {
	objs, _ := x.indexer.ByIndex("involved", namespace+"/"+kind+"/"+name)
	out := make([]*corev1.Event, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Event))
	}
	return out, nil
}

// endlessLogs stands in for the kubelet (envtest has none): every stream is
// an endless, secret-laden log, so only the reader's caps bound it.
type endlessLogs struct {
	mu   sync.Mutex
	read int64
}

type endless struct {
	l    *endlessLogs
	line []byte
	off  int
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.line[e.off:])
		n += c
		e.off = (e.off + c) % len(e.line)
	}
	e.l.mu.Lock()
	e.l.read += int64(n)
	e.l.mu.Unlock()
	return n, nil
}

func (l *endlessLogs) Stream(_ context.Context, _, _ string, _ *corev1.PodLogOptions) (io.ReadCloser, error) {
	return io.NopCloser(&endless{l: l, line: []byte("ERROR db login failed password=hunter2 retrying\n")}), nil
}

// TestIntegration runs enrichment and delivery against a real apiserver:
// owner chain and related events, and Secrets read from the policy's
// namespace only. One control plane serves every subtest.
func TestIntegration(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	ctx := t.Context()
	kube, err := kubernetes.NewForConfig(env.Config)
	require.NoError(t, err)
	c := env.Client
	for _, n := range []string{"team-a", "team-b"} {
		require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}))
	}

	// No controllers run in envtest: the Deployment → ReplicaSet → Pod chain
	// is created by hand, with owner references carrying the real UIDs.
	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/web:1",
			Env: []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2"}}}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	require.NoError(t, c.Create(ctx, dep))
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c", Namespace: "team-a", Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: new(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	require.NoError(t, c.Create(ctx, rs))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c-x2x9z", Namespace: "team-a", Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: new(true)}}},
		Spec: tmpl.Spec}
	require.NoError(t, c.Create(ctx, pod))
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 4,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}}
	require.NoError(t, c.Status().Update(ctx, pod))

	mkEvent := func(name, kind, obj string, uid types.UID, typ, reason, msg string, age time.Duration) *corev1.Event {
		ts := metav1.NewTime(time.Now().Add(-age).Truncate(time.Second))
		e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a"},
			InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: "team-a", Name: obj, UID: uid},
			Type:           typ, Reason: reason, Message: msg, Count: 1, FirstTimestamp: ts, LastTimestamp: ts,
			Source: corev1.EventSource{Component: "kubelet"}}
		require.NoError(t, c.Create(ctx, e))
		return e
	}
	backoff := mkEvent("web-7d4b9c-x2x9z.backoff", "Pod", pod.Name, pod.UID, "Warning", "BackOff", "Back-off restarting failed container app in pod web-7d4b9c-x2x9z_team-a", 0)
	mkEvent("web-7d4b9c-x2x9z.started", "Pod", pod.Name, pod.UID, "Normal", "Started", "Started container app", 20*time.Second)
	mkEvent("web-7d4b9c.create", "ReplicaSet", rs.Name, rs.UID, "Normal", "SuccessfulCreate", "Created pod: web-7d4b9c-x2x9z", time.Minute)
	mkEvent("web.scaled", "Deployment", "web", dep.UID, "Normal", "ScalingReplicaSet", "Scaled up replica set web-7d4b9c from 0 to 1", 2*time.Minute)
	mkEvent("web.ancient", "Deployment", "web", dep.UID, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5f from 0 to 1", time.Hour)

	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace("team-a"))
	inf := factory.Core().V1().Events().Informer()
	require.NoError(t, inf.AddIndexers(cache.Indexers{"involved": func(o any) ([]string, error) {
		e := o.(*corev1.Event)
		return []string{e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name}, nil
	}}))
	factory.Start(ctx.Done())
	t.Cleanup(factory.Shutdown)
	require.True(t, cache.WaitForCacheSync(ctx.Done(), inf.HasSynced))

	logs := &endlessLogs{}
	enr := enricher.New(enricher.Options{Kube: kube, Events: informerIndex{inf.GetIndexer()}, Logs: logs})
	pol := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team-a", UID: "p-uid"},
		Spec: v1alpha1.RemediationPolicySpec{ContextGathering: &v1alpha1.ContextGathering{MaxLogBytes: new(int64(8192)), LookbackMinutes: new(int32(10))}}}
	defaults := config.Default()

	t.Run("owner chain, related events and capped logs", func(t *testing.T) {
		start := time.Now()
		got := enr.Enrich(ctx, backoff, effective(pol, &defaults, v1alpha1.ModeManual).Context)
		assert.Less(t, time.Since(start), time.Second, "enrichment takes well under a second")
		assert.Equal(t, []string{"Pod/web-7d4b9c-x2x9z", "ReplicaSet/web-7d4b9c", "Deployment/web"}, got.OwnerChain)
		require.Len(t, got.Owners, 2)
		var reasons []string
		for _, r := range got.RelatedEvents {
			reasons = append(reasons, r.Reason)
		}
		assert.Equal(t, []string{"Started", "SuccessfulCreate", "ScalingReplicaSet"}, reasons, "newest first, within lookback, without the event itself")
		require.Len(t, got.ContainerStatuses, 1)
		assert.Equal(t, "OOMKilled", got.ContainerStatuses[0].LastReason)
		require.Len(t, got.Logs, 2, "current and previous container")
		b, err := json.Marshal(got)
		require.NoError(t, err)
		assert.NotContains(t, string(b), "hunter2")
		assert.NotContains(t, string(b), "managedFields")
		size := 0
		for _, l := range got.Logs {
			for _, line := range l.Lines {
				size += len(line) + 1
			}
		}
		assert.LessOrEqual(t, size, 8192)
		assert.LessOrEqual(t, logs.read, int64(4*8192+2*4096), "endless streams are read only up to the cap")
		issue := got.Issue(mcp.MaxIssueUTF16)
		assert.Contains(t, issue, "last terminated: OOMKilled (exit code 137)")
		assert.Contains(t, issue, "SuccessfulCreate ReplicaSet/web-7d4b9c")
	})

	t.Run("real log and metrics sources through the apiserver, without kubelet and metrics-server", func(t *testing.T) {
		live := enricher.New(enricher.Options{Kube: kube})
		p := pol.DeepCopy()
		p.Spec.ContextGathering.IncludeMetrics = new(true)
		got := live.Enrich(ctx, backoff, effective(p, &defaults, v1alpha1.ModeManual).Context)
		notes := strings.Join(got.Notes, "\n")
		assert.Empty(t, got.Logs, "the apiserver streams nothing for a Pod without a node")
		assert.Contains(t, notes, "logs of web-7d4b9c-x2x9z/app:")
		assert.Contains(t, notes, "metrics: metrics.k8s.io is not served")
		assert.Equal(t, []string{"Pod/web-7d4b9c-x2x9z", "ReplicaSet/web-7d4b9c", "Deployment/web"}, got.OwnerChain)
	})

	t.Run("secret read from the policy's namespace only", func(t *testing.T) {
		srv := mcptest.New(mcptest.Options{Token: "team-token"})
		require.NoError(t, srv.Start("127.0.0.1:0"))
		t.Cleanup(func() { _ = srv.Close() })
		settings := config.Default()
		settings.MCPEndpoint = "http://127.0.0.1:1/api/v1/tools/remediate"
		client, err := mcp.New(mcp.Options{Timeout: 10 * time.Second, MaxAttempts: 1})
		require.NoError(t, err)
		d := New(Options{Settings: &settings, Enricher: enr, Client: client, Secrets: c})
		p := pol.DeepCopy()
		p.Spec.McpEndpoint = srv.URL()
		p.Spec.McpAuthSecretRef = &v1alpha1.SecretKeyReference{Name: "mcp", Key: "token"}
		req := delivery.Request{Policy: p, Event: backoff, Effective: effective(p, &settings, v1alpha1.ModeManual), OccurrenceKey: "o1"}

		require.NoError(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mcp", Namespace: "team-b"}, StringData: map[string]string{"token": "team-token"}}))
		res := d.Deliver(ctx, req)
		assert.Equal(t, v1alpha1.ReasonInvalidSecretRef, res.ConditionReason)
		assert.Contains(t, res.Outcome.Message, "Secret team-a/mcp not found")
		assert.Zero(t, srv.Count())

		require.NoError(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mcp", Namespace: "team-a"}, StringData: map[string]string{"token": "team-token"}}))
		res = d.Deliver(ctx, req)
		assert.Equal(t, v1alpha1.OutcomeAnalysisCompleted, res.Outcome.Result, res.Outcome.Message)
		assert.Empty(t, res.ConditionReason)
		require.Equal(t, 1, srv.Count())
		assert.Equal(t, "Bearer team-token", srv.Requests()[0].Header.Get("Authorization"))
		var body map[string]any
		require.NoError(t, json.Unmarshal(srv.Requests()[0].Body, &body))
		assert.True(t, strings.HasPrefix(body["issue"].(string), "Kubernetes Warning event BackOff on Pod/web-7d4b9c-x2x9z"))
		assert.Equal(t, "p", body["policy"], "the product spec's field: the policy's name")
		assert.Equal(t, map[string]any{"namespace": "team-a", "name": "p"}, body["policyRef"])
	})
}
