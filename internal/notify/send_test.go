package notify

import (
	"net/http"
	"strings"
	"testing"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"dot-ai.io/controller/internal/policy"
)

// instantClock does not wait: retries run at once, and the test sees the
// waits through observeWait.
type instantClock struct{ clock.RealClock }

func (instantClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}

// cloudEventsReceiver answers 202 to a valid structured CloudEvent of the
// notification type, 400 to anything else, reading it with the SDK.
func cloudEventsReceiver(w http.ResponseWriter, r *http.Request, body []byte) {
	r.Body = http.NoBody
	req := r.Clone(r.Context())
	req.Body = nopCloser{strings.NewReader(string(body))}
	e, err := cehttp.NewEventFromHTTPRequest(req)
	if err != nil || e.Validate() != nil || e.Type() != EventTypeNotification ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents+json") {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// TestServiceAnswers: every answer each service gives ends in the right
// retries, outcome, status and metric, and the URL shows up nowhere.
func TestServiceAnswers(t *testing.T) {
	const chatError = `{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"cards\".","status":"INVALID_ARGUMENT"}}`
	tests := []struct {
		name    string
		kind    policy.DestinationKind
		script  []func(http.ResponseWriter, *http.Request, []byte)
		calls   int
		outcome Outcome
		reason  string
		waits   []time.Duration
	}{
		{"slack 200 ok", policy.DestinationSlack, s(answer(200, "ok")), 1, Sent, ReasonOK, nil},
		{"slack 400 invalid_payload", policy.DestinationSlack, s(answer(400, "invalid_payload")), 1, Failed, "invalid_payload", nil},
		{"slack 403 action_prohibited", policy.DestinationSlack, s(answer(403, "action_prohibited")), 1, Failed, "action_prohibited", nil},
		{"slack 404 no_service", policy.DestinationSlack, s(answer(404, "no_service")), 1, Failed, "no_service", nil},
		{"slack 410 channel_is_archived", policy.DestinationSlack, s(answer(410, "channel_is_archived")), 1, Failed, "channel_is_archived", nil},
		{"slack 400 unknown body", policy.DestinationSlack, s(answer(400, "<html>"+secretPath+"</html>")), 1, Failed, "http_400", nil},
		{"slack 429 Retry-After then ok", policy.DestinationSlack, s(answer(429, "rate_limited", "Retry-After", "7"), answer(200, "ok")), 2, Sent, ReasonOK, []time.Duration{7 * time.Second}},
		{"slack 500 then ok", policy.DestinationSlack, s(answer(500, "<html>oops</html>"), answer(200, "ok")), 2, Sent, ReasonOK, []time.Duration{time.Second}},
		{"slack 500 for good", policy.DestinationSlack, s(answer(500, "")), 5, Failed, "retries_exceeded_server_error",
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}},
		{"google chat 200", policy.DestinationGoogleChat, s(answer(200, `{"name":"spaces/AAA/messages/BBB.BBB"}`, "Content-Type", "application/json")), 1, Sent, ReasonOK, nil},
		{"google chat 400 error body", policy.DestinationGoogleChat, s(answer(400, chatError, "Content-Type", "application/json")), 1, Failed, "http_400", nil},
		{"google chat 429 then ok", policy.DestinationGoogleChat, s(answer(429, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}`), answer(200, `{}`)), 2, Sent, ReasonOK, []time.Duration{time.Second}},
		{"cloudevents receiver accepts", policy.DestinationWebhook, s(cloudEventsReceiver), 1, Sent, ReasonOK, nil},
		{"cloudevents receiver gone", policy.DestinationWebhook, s(answer(410, "")), 1, Failed, "http_410", nil},
	}
	logs := &logSink{}
	statuses := &statusLog{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStub(t, tc.script...)
			var waits []time.Duration
			n := New(testConfig(st.srv.URL+"/services/"), secretReader(t, map[policy.DestinationKind]string{tc.kind: st.url()}).Build(), Options{
				Clock: instantClock{}, Log: logs.logger(), OnStatus: statuses.record,
				observeWait: func(d time.Duration) { waits = append(waits, d) },
			})
			result := "sent"
			if tc.outcome != Sent {
				result = "failed"
			}
			msgMetric := metricMessages.WithLabelValues(string(tc.kind), result, tc.reason)
			before := testutil.ToFloat64(msgMetric)
			run(t, n)
			n.Notify(item("e1"), []policy.Destination{dest(tc.kind)})
			counts := settled(t, n, 1)
			assert.Equal(t, int64(1), counts[tc.kind][tc.outcome], "outcome %s", tc.outcome)
			assert.Equal(t, tc.calls, st.calls())
			assert.Equal(t, tc.waits, waits)
			assert.InDelta(t, before+1, testutil.ToFloat64(msgMetric), 0, "dotai_notification_messages_total{kind=%s,result=%s,reason=%s}", tc.kind, result, tc.reason)
			if tc.outcome == Failed {
				assert.Contains(t, statuses.String(), string(tc.kind)+" failed "+tc.reason)
			}
		})
	}
	assert.NotContains(t, logs.String(), secretPath)
	assert.NotContains(t, statuses.String(), secretPath)
	assertNotInMetrics(t, secretPath)
}

func s(fs ...func(http.ResponseWriter, *http.Request, []byte)) []func(http.ResponseWriter, *http.Request, []byte) {
	return fs
}

func assertNotInMetrics(t *testing.T, needle string) {
	t.Helper()
	families, err := metrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		assert.NotContains(t, f.String(), needle)
	}
}

// TestDestinationHosts: Slack and Google Chat URLs must be on the services'
// own hosts unless the installation's allow-list admits them; webhook URLs
// only through the allow-list. Nothing is sent to a refused URL.
func TestDestinationHosts(t *testing.T) {
	tests := []struct {
		name    string
		kind    policy.DestinationKind
		url     string
		allowed []string
		ok      bool
	}{
		{"slack on its host", policy.DestinationSlack, "https://hooks.slack.com/services/T/B/X", nil, true},
		{"slack lookalike host", policy.DestinationSlack, "https://hooks.slack.com.evil.test/services/T/B/X", nil, false},
		{"slack over http", policy.DestinationSlack, "http://hooks.slack.com/services/T/B/X", nil, false},
		{"google chat on its host", policy.DestinationGoogleChat, "https://chat.googleapis.com/v1/spaces/A/messages?key=k", nil, true},
		{"google chat on slack's host", policy.DestinationGoogleChat, "https://hooks.slack.com/services/T/B/X", nil, false},
		{"webhook without allow-list", policy.DestinationWebhook, "http://127.0.0.1:9/in", nil, false},
		{"webhook in allow-list", policy.DestinationWebhook, "http://127.0.0.1:9/in/x", []string{"http://127.0.0.1:9/in"}, true},
		{"webhook beside allow-list path", policy.DestinationWebhook, "http://127.0.0.1:9/inside", []string{"http://127.0.0.1:9/in"}, false},
		{"webhook with userinfo", policy.DestinationWebhook, "http://u:p@127.0.0.1:9/in", []string{"http://127.0.0.1:9/in"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := New(testConfig(tc.allowed...), secretReader(t, map[policy.DestinationKind]string{tc.kind: tc.url}).Build(), Options{})
			got, _, err := n.destinationURL(t.Context(), testPolicy.Namespace, dest(tc.kind))
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, tc.url, got)
				return
			}
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "evil", "the error must not repeat the URL")
			assert.NotContains(t, err.Error(), "127.0.0.1")
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, 30*time.Second, retryAfter("30", now))
	assert.Equal(t, 90*time.Second, retryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now))
	assert.Zero(t, retryAfter("", now))
	assert.Zero(t, retryAfter("soon", now))
}
