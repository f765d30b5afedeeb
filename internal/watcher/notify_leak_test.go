package watcher

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/testenv"
)

// notifySecret is the credential part of the test's webhook URLs.
const notifySecret = "XSECRETXNOTIFYXURLX"

// TestNotificationURLNeverLeaks: webhook URLs are credentials. A policy
// whose destinations fail in every way a URL could be repeated (a
// receiver that refuses and echoes its path, a Slack URL that is not
// allowed) leaves its failures in status, Events, logs and metrics, and
// none of them holds the URL or its secret part; the notification
// outcomes are counted exactly all the same.
func TestNotificationURLNeverLeaks(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	const ns = "leak"
	createNamespace(t, c, "dot-ai", nil)
	createNamespace(t, c, ns, nil)
	createPod(t, c, ns, "victim")
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("no hook at " + r.URL.String())) // a receiver that echoes the URL
	}))
	t.Cleanup(refusing.Close)
	hookURL := refusing.URL + "/hook/" + notifySecret
	slackURL := "https://hooks.example.com/services/" + notifySecret // not hooks.slack.com, not allowed
	require.NoError(t, c.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hooks"},
		StringData: map[string]string{"webhook": hookURL, "slack": slackURL},
	}))
	p := newPolicy(ns, "p", v1alpha1.EventSelector{Type: "Warning"})
	p.Spec.Notifications = &v1alpha1.Notifications{
		Webhook: &v1alpha1.NotificationDestination{WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "hooks", Key: "webhook"}, NotifyOnComplete: new(true)},
		Slack:   &v1alpha1.NotificationDestination{WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "hooks", Key: "slack"}, NotifyOnComplete: new(true)},
	}
	require.NoError(t, c.Create(context.Background(), p))

	var logs bytes.Buffer
	var logMu sync.Mutex
	log := funcr.New(func(prefix, args string) {
		logMu.Lock()
		defer logMu.Unlock()
		logs.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
	startNotifying(t, env.Config, notifySettings(refusing.URL+"/"), &recorder{}, log)

	const events = 3
	for i := range events {
		createEvent(t, c, ns, "ev-"+string(rune('a'+i)), "Warning", "BackOff", "Pod", "victim")
	}
	var cur v1alpha1.RemediationPolicy
	require.Eventually(t, func() bool {
		if c.Get(context.Background(), client.ObjectKeyFromObject(p), &cur) != nil {
			return false
		}
		failed := 0
		for _, n := range cur.Status.NotificationCounts {
			if n.Failed == events && n.Ended() == events && n.Pending == 0 {
				failed++
			}
		}
		cond := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionNotifying)
		return failed == 2 && cond != nil && cond.Status == metav1.ConditionFalse &&
			strings.Contains(cond.Message, "http_404") && strings.Contains(cond.Message, "url_not_allowed")
	}, 60*time.Second, 50*time.Millisecond, "both destinations failed and were counted")

	needles := []string{notifySecret, hookURL, slackURL, base64.StdEncoding.EncodeToString([]byte(hookURL)), base64.StdEncoding.EncodeToString([]byte(slackURL))}
	leak := func(s string) string {
		for _, n := range needles {
			if strings.Contains(s, n) {
				return n
			}
		}
		return ""
	}
	// Status and spec, as stored.
	data, err := json.Marshal(&cur)
	require.NoError(t, err)
	assert.Empty(t, leak(string(data)), "the policy: %s", data)
	// Every Event, the policy's Warnings among them.
	var evs corev1.EventList
	require.NoError(t, c.List(context.Background(), &evs))
	warned := false
	for i := range evs.Items {
		data, err := json.Marshal(&evs.Items[i])
		require.NoError(t, err)
		assert.Empty(t, leak(string(data)), "Event %s", data)
		warned = warned || evs.Items[i].Reason == v1alpha1.ReasonNotificationFailing
	}
	assert.True(t, warned, "a NotificationFailing Event was posted (the scan saw it)")
	// The controller's state (checkpoint with the account, intents).
	var states v1alpha1.ControllerStateList
	require.NoError(t, c.List(context.Background(), &states, client.InNamespace("dot-ai")))
	require.NotEmpty(t, states.Items)
	for i := range states.Items {
		data, err := json.Marshal(&states.Items[i])
		require.NoError(t, err)
		assert.Empty(t, leak(string(data)), "ControllerState %s", data)
	}
	// Logs, which recorded the failures.
	logMu.Lock()
	logged := logs.String()
	logMu.Unlock()
	assert.Contains(t, logged, "Notification failed", "the failures were logged (the scan saw them)")
	assert.Empty(t, leak(logged), "logs:\n%s", logged)
	// Metrics.
	families, err := metrics.Registry.Gather()
	require.NoError(t, err)
	var m bytes.Buffer
	for _, f := range families {
		_, err := expfmt.MetricFamilyToText(&m, f)
		require.NoError(t, err)
	}
	assert.Contains(t, m.String(), `dotai_notification_items_total{kind="slack",outcome="failed"}`)
	assert.Empty(t, leak(m.String()), "metrics")
}
