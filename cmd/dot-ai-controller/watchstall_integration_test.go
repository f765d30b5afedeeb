package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"dot-ai.io/controller/internal/testenv"
)

// TestEventWatchStall stalls only the Event watch for real: a leader and a
// standby reach a real kube-apiserver through a proxy that, once stalled,
// stops passing on the open Event watch, or ends it and holds the next one,
// while everything else (lease renewals) passes. The leader's liveness fails within
// --event-watch-stall-timeout of its last Event and the activity metric
// stops; readiness stays, the standby stays live and ready; once the proxy
// lets the watch continue, liveness and the metric recover.
func TestEventWatchStall(t *testing.T) {
	const stall = 3 * time.Second
	began := time.Now()
	env := testenv.Start(t, testenv.Options{})
	ctx := t.Context()
	proxy := testenv.StartEventWatchProxy(t, env.Config)
	require.NoError(t, env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dot-ai"}}))
	start := func() int {
		certDir := filepath.Join(t.TempDir(), "certs")
		testenv.WriteServingCert(t, certDir)
		port, _ := startControllerWith(t, proxy.Kubeconfig(t),
			fmt.Sprintf("--webhook-port=%d", testenv.FreePort(t)),
			"--webhook-cert-dir="+certDir,
			"--mcp-endpoint=http://127.0.0.1:1/api/v1/tools/remediate",
			"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s",
			"--event-watch-stall-timeout="+stall.String(),
		)
		return port
	}
	holder := func() string {
		lease := &coordinationv1.Lease{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "dot-ai", Name: "dot-ai-controller.remediation.dot-ai.io"}, lease); err != nil || lease.Spec.HolderIdentity == nil {
			return ""
		}
		return *lease.Spec.HolderIdentity
	}
	leader := start()
	require.Eventually(t, func() bool { return holder() != "" }, 30*time.Second, 100*time.Millisecond, "the first controller leads")
	leaderID := holder()
	standby := start()

	// A heartbeat of Events, written straight to the API server, keeps a
	// healthy watch active well within the bound.
	beat := make(chan struct{})
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			ev := &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("heartbeat-%d", i), Namespace: "default"},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"},
				Reason:         "Heartbeat", Type: corev1.EventTypeNormal,
			}
			_ = env.Client.Create(ctx, ev)
			select {
			case <-beat:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(beat); <-beating })

	// The leader's watch delivers heartbeats well after it opened: its
	// start-up is over, so a stall now counts. (The metric is the process's:
	// it may hold an earlier test's values.)
	require.Eventually(t, func() bool {
		opened := activity(t, "opened")
		return opened >= float64(began.UnixNano())/1e9 && activity(t, "event") > opened+1
	}, 30*time.Second, 100*time.Millisecond)
	require.Positive(t, proxy.Watches(), "the Event watch goes through the proxy")
	for name, port := range map[string]int{"leader": leader, "standby": standby} {
		assert.Equal(t, http.StatusOK, probe(port, "/healthz"), name)
		assert.Equal(t, http.StatusOK, probe(port, "/readyz"), name)
	}

	lastActive := func() float64 { return max(activity(t, "opened"), activity(t, "event"), activity(t, "bookmark")) }
	unix := func(at time.Time) float64 { return float64(at.UnixNano()) / 1e9 }
	stalls := []struct {
		name  string
		stall func()
	}{
		{name: "open watch stops passing", stall: proxy.Stall},
		{name: "re-opened watch is held", stall: proxy.StallReopen},
	}
	for _, st := range stalls {
		t.Run(st.name, func(t *testing.T) {
			heldBefore := proxy.Held()
			st.stall()
			stalledAt := time.Now()
			require.Eventually(t, func() bool { return probe(leader, "/healthz") == http.StatusInternalServerError }, stall+5*time.Second, 50*time.Millisecond,
				"the leader's liveness fails within the bound")
			failedAt := time.Now()
			frozen := lastActive()
			t.Logf("Liveness failed %s after the stall, %.3fs after the last activity (bound %s); Event watch requests held: %d",
				failedAt.Sub(stalledAt).Round(time.Millisecond), unix(failedAt)-frozen, stall, proxy.Held()-heldBefore)
			assert.GreaterOrEqual(t, unix(failedAt)-frozen, stall.Seconds(), "not before the bound")
			assert.LessOrEqual(t, failedAt.Sub(stalledAt), stall+2*time.Second, "within the bound of the stall, give or take a probe")
			assert.Equal(t, http.StatusOK, probe(leader, "/readyz"), "a stall keeps the leader's webhooks ready")
			assert.Equal(t, http.StatusOK, probe(standby, "/healthz"), "a standby's liveness ignores the watch")
			assert.Equal(t, http.StatusOK, probe(standby, "/readyz"))
			assert.Less(t, frozen, unix(stalledAt)+1, "no Event passed the stalled watch")
			assert.Never(t, func() bool { return lastActive() != frozen }, time.Second, 100*time.Millisecond, "the activity metric stops")
			assert.Equal(t, leaderID, holder(), "only the Event watch stalled: lease renewals went through")

			proxy.Release()
			require.Eventually(t, func() bool { return probe(leader, "/healthz") == http.StatusOK }, 10*time.Second, 50*time.Millisecond,
				"the leader is live again once its watch resumes")
			require.Eventually(t, func() bool { return activity(t, "event") > frozen }, 10*time.Second, 50*time.Millisecond, "the activity metric advances again")
			assert.Equal(t, http.StatusOK, probe(leader, "/readyz"))
		})
	}
	assert.Positive(t, proxy.Held(), "a re-opened Event watch was held")
}

func probe(port int, path string) int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// activity reads dotai_event_watch_activity_timestamp_seconds{activity=kind}
// from the binary's registry (0 before any).
func activity(t *testing.T, kind string) float64 {
	t.Helper()
	fams, err := ctrlmetrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != "dotai_event_watch_activity_timestamp_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "activity" && l.GetValue() == kind {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}
