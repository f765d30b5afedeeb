//go:build e2e && reliability

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/internal/webhook/webhooktest"
)

// rssBoundMiB is the controller's peak RSS bound during hostile MCP answers
// and odd Events (issue 8's memory target).
const rssBoundMiB = 200

// testHostile is scenario 6: invalid policies are rejected with the right
// field paths, hostile MCP answers end in a recorded failure with a clear
// reason and bounded memory, and odd Events are processed without a panic.
func (r *rel) testHostile(t *testing.T) {
	if r.external {
		t.Skip("needs the stub MCP server and the controller on this machine")
	}
	t.Run("invalid policies", r.testHostilePolicies)
	t.Run("hostile mcp responses", r.testHostileMCP)
	t.Run("odd events", r.testOddEvents)
}

// testHostilePolicies applies the catalogue (internal/webhook/testdata/
// invalid-policies.yaml) to the cluster through the installed chart's
// webhooks and the CRD's schema.
func (r *rel) testHostilePolicies(t *testing.T) {
	cases, err := webhooktest.Load(webhooktest.Path())
	require.NoError(t, err)
	work := r.namespace(t, "hostile-policies")
	var invalid, bySchema int
	for _, tc := range cases {
		ok := t.Run(tc.Name, func(t *testing.T) {
			ctx := t.Context()
			obj := tc.Object(work, r.releaseNS, false)
			answer, err := tc.Apply(ctx, r.c, work, r.releaseNS)
			require.NoError(t, err)
			if tc.UpdateFrom != nil {
				t.Cleanup(func() { _ = r.c.Delete(context.Background(), obj) })
				assertCatalogueRejection(t, tc, answer)
				return
			}
			if answer == nil {
				_ = r.c.Delete(ctx, obj)
			}
			assertCatalogueRejection(t, tc, answer)
			err = r.c.Get(ctx, client.ObjectKeyFromObject(obj), &v1alpha1.RemediationPolicy{})
			assert.True(t, apierrors.IsNotFound(err), "nothing stored: %v", err)
		})
		if ok {
			invalid++
			if tc.RejectedBy == webhooktest.RejectedBySchema {
				bySchema++
			}
		}
	}
	require.False(t, t.Failed())
	r.figure(t, "%d invalid policies rejected with 422 Invalid and exactly the catalogue's field paths (%d by the CRD schema, "+
		"%d by the validating webhook); catalogue internal/webhook/testdata/invalid-policies.yaml",
		invalid, bySchema, invalid-bySchema)
}

func assertCatalogueRejection(t *testing.T, tc webhooktest.Case, err error) {
	t.Helper()
	require.Error(t, err, "an invalid policy was accepted")
	require.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
	var status apierrors.APIStatus
	require.True(t, errors.As(err, &status))
	require.NotNil(t, status.Status().Details, "no details: %v", err)
	var got []string
	for _, c := range status.Status().Details.Causes {
		got = append(got, c.Field)
	}
	assert.ElementsMatch(t, tc.FieldPaths, got, "rejection: %v", err)
}

// hostileReply is one hostile answer of the MCP server and what the
// policy's status must then record.
type hostileReply struct {
	name  string
	reply mcptest.Reply
	// code is the outcome's mcpStatus; reason a substring of its message.
	code, reason string
}

func hostileReplies() []hostileReply {
	envelopeStart := []byte(`{"success":true,"data":{"result":{"status":"success","message":"`)
	return []hostileReply{
		{name: "100 MB body", reply: mcptest.Reply{Status: http.StatusOK, Body: envelopeStart, StreamBytes: 100 << 20},
			code: "RESPONSE_TOO_LARGE", reason: "response body exceeds"},
		{name: "endless body", reply: mcptest.Reply{Status: http.StatusOK, Body: envelopeStart, StreamBytes: mcptest.Endless},
			code: "RESPONSE_TOO_LARGE", reason: "response body exceeds"},
		{name: "invalid UTF-8 body", reply: mcptest.Reply{Status: http.StatusOK, Body: []byte("\xff\xfe\xfd not json \xc3\x28 \xed\xa0\x80")},
			code: "MALFORMED_RESPONSE", reason: "not a dot-ai envelope"},
		{name: "invalid UTF-8 in an error envelope", reply: mcptest.Reply{Status: http.StatusInternalServerError,
			Body: []byte("{\"success\":false,\"error\":{\"code\":\"BAD_\xff\",\"message\":\"broken \xc3\x28 text\\u001b[31m\"}}")},
			code: "BAD_\uFFFD", reason: "broken"},
		{name: "success is a string", reply: mcptest.Reply{Status: http.StatusOK, Body: []byte(`{"success":"yes","data":{"result":{"status":"success"}}}`)},
			code: "MALFORMED_RESPONSE", reason: "Envelope.success"},
		{name: "data.result is a number", reply: mcptest.Reply{Status: http.StatusOK, Body: []byte(`{"success":true,"data":{"result":42}}`)},
			code: "MALFORMED_RESPONSE", reason: "data.result"},
		{name: "error is a string", reply: mcptest.Reply{Status: http.StatusOK, Body: []byte(`{"success":false,"error":"boom"}`)},
			code: "MALFORMED_RESPONSE", reason: "Envelope.error"},
	}
}

// testHostileMCP answers every call with a hostile reply, one matching
// event each, and checks the policy's status records a DeliveryFailed
// outcome with a clear reason, the call was not repeated, and the
// controller stayed alive within its memory bound.
func (r *rel) testHostileMCP(t *testing.T) {
	ns := r.namespace(t, "hostile-mcp")
	replies := hostileReplies()
	pods := r.pods(t, ns, len(replies)+1)
	p := r.policy(t, ns, "hostile", "  rateLimiting: {eventsPerMinute: 10000, cooldownMinutes: 0}\n")
	pid := r.ctrl.PID()
	rss := sampleRSS(r.ctrl)
	t.Cleanup(func() { r.stub.SetOverride(nil) })

	var slowest time.Duration
	for i, h := range replies {
		t.Run(h.name, func(t *testing.T) {
			reply := h.reply
			r.stub.SetOverride(&reply)
			defer r.stub.SetOverride(nil)
			name := fmt.Sprintf("hostile-%d", i)
			start := time.Now()
			_, err := r.admin.CoreV1().Events(ns).Create(t.Context(), backOffEvent(pods[i], name), metav1.CreateOptions{})
			require.NoError(t, err)
			out := r.awaitOutcome(t, p, ns+"/"+name, 60*time.Second)
			took := time.Since(start)
			slowest = max(slowest, took)
			assert.Equal(t, v1alpha1.OutcomeDeliveryFailed, out.Result)
			assert.Equal(t, h.code, out.McpStatus)
			assert.Contains(t, out.Message, h.reason, "a clear failure reason")
			assert.LessOrEqual(t, len([]rune(out.Message)), 1024)
			assert.False(t, strings.ContainsFunc(out.Message, func(c rune) bool { return c < 0x20 }), "no control characters: %q", out.Message)
			d := r.received(ns)[name]
			require.NotNil(t, d, "the stub got the call")
			assert.Equal(t, 1, d.count, "a hostile answer is not retried")
			r.assertAlive(t, pid)
			t.Logf("%s: %s %q after %s", h.name, out.McpStatus, out.Message, took.Round(10*time.Millisecond))
		})
	}
	peak := rss.Stop()
	var failed int64
	waitUntil(t.Context(), 30*time.Second, func() bool {
		failed = r.getPolicy(t, p).Status.FailedRemediations
		return failed >= int64(len(replies))
	})
	assert.EqualValues(t, len(replies), failed, "every hostile answer counted once as a failure")
	assert.Less(t, peak, float64(rssBoundMiB), "controller peak RSS (MiB)")

	// The next normal answer is delivered again.
	name := "after-hostile"
	_, err := r.admin.CoreV1().Events(ns).Create(t.Context(), backOffEvent(pods[len(replies)], name), metav1.CreateOptions{})
	require.NoError(t, err)
	out := r.awaitOutcome(t, p, ns+"/"+name, 60*time.Second)
	assert.Equal(t, v1alpha1.OutcomeAnalysisCompleted, out.Result)
	r.assertAlive(t, pid)

	r.figure(t, "%d hostile MCP answers (100 MB body, endless body, invalid UTF-8 body and envelope, 3 wrong-type envelopes) each recorded "+
		"as one DeliveryFailed outcome with a clear reason (RESPONSE_TOO_LARGE, MALFORMED_RESPONSE, or the server's code made valid UTF-8), "+
		"none retried, slowest event-to-status %s (mcp.timeout=3s); controller peak RSS %.0f MiB (bound %d MiB), same process throughout, "+
		"next call delivered",
		len(replies), slowest.Round(100*time.Millisecond), peak, rssBoundMiB)
}

// awaitOutcome waits until the policy's status lists an outcome for the
// event and returns it.
func (r *rel) awaitOutcome(t *testing.T, p *v1alpha1.RemediationPolicy, event string, timeout time.Duration) v1alpha1.RemediationOutcome {
	t.Helper()
	var found *v1alpha1.RemediationOutcome
	var last v1alpha1.RemediationPolicyStatus
	ok := waitUntil(t.Context(), timeout, func() bool {
		var cur v1alpha1.RemediationPolicy
		if err := r.c.Get(t.Context(), client.ObjectKeyFromObject(p), &cur); err != nil {
			return false
		}
		last = cur.Status
		i := slices.IndexFunc(cur.Status.RecentOutcomes, func(o v1alpha1.RemediationOutcome) bool { return o.Event == event })
		if i >= 0 {
			found = &cur.Status.RecentOutcomes[i]
		}
		return found != nil
	})
	require.Truef(t, ok, "no outcome for %s within %s; status %+v; controller log: %s", event, timeout, last, r.ctrl.LogFile)
	return *found
}

// assertAlive checks the controller process is the same one, still running,
// healthy, and logged no panic.
func (r *rel) assertAlive(t *testing.T, pid int) {
	t.Helper()
	select {
	case <-r.ctrl.Exited():
		t.Fatalf("the controller exited; log: %s", r.ctrl.LogFile)
	default:
	}
	assert.Equal(t, pid, r.ctrl.PID(), "no restart")
	resp, err := insecureClient().Get(r.ctrl.HealthURL + "/healthz")
	if assert.NoError(t, err) {
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "healthz")
	}
	log, err := os.ReadFile(r.ctrl.LogFile)
	require.NoError(t, err)
	for _, s := range []string{"panic:", "Observed a panic"} {
		assert.NotContains(t, string(log), s, "controller log %s", r.ctrl.LogFile)
	}
}

// oddEvent is an Event with a hostile message or reason.
type oddEvent struct {
	name            string
	reason, message string
	// protobuf sends it as protobuf, so invalid UTF-8 reaches the
	// apiserver as raw bytes (JSON encoding would replace it).
	protobuf bool
}

// testOddEvents creates matching Events with a huge message, control
// characters, invalid UTF-8, emoji and right-to-left text, and a very long
// reason; each must be delivered (or, when the apiserver refuses it, be
// skipped by the test with its answer recorded), the controller must stay up,
// and a normal event afterwards must be delivered.
func (r *rel) testOddEvents(t *testing.T) {
	ns := r.namespace(t, "hostile-events")
	doc := fmt.Sprintf(`apiVersion: remediation.dot-ai.io/v1alpha1
kind: RemediationPolicy
metadata: {name: odd, namespace: %s}
spec:
  eventSelectors: [{type: Warning, involvedObjectKind: Pod}]
  contextGathering: {includeLogs: false, includeRelatedEvents: false}
  rateLimiting: {eventsPerMinute: 10000, cooldownMinutes: 0}
`, ns)
	out, err := r.kubectl(doc, "apply", "-f", "-")
	require.NoErrorf(t, err, "%s", out)
	p := &v1alpha1.RemediationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "odd"}}
	pid := r.ctrl.PID()
	rss := sampleRSS(r.ctrl)

	pcfg := *r.cfg
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	proto, err := kubernetes.NewForConfig(&pcfg)
	require.NoError(t, err)

	odd := []oddEvent{
		{name: "control-chars", reason: "BackOff", message: "line one\nline two\r\n\ttab \x00nul \x07bell \x1b[31mred\x1b[0m \x7f del \u2028 \u202e override"},
		{name: "invalid-utf8", reason: "BackOff", message: "bad bytes \xff\xfe\xfd \xc3\x28 \xed\xa0\x80 end", protobuf: true},
		{name: "invalid-utf8-reason", reason: "Back\xffOff", message: "reason with a bad byte", protobuf: true},
		{name: "emoji-rtl", reason: "BackOff", message: strings.Repeat("💥🔥 crash ", 300) + "مرحبا بالعالم שלום עולם \u200f\u202b" + strings.Repeat("\U0001F468\u200D\U0001F469\u200D\U0001F467", 200)},
		{name: "long-reason", reason: strings.Repeat("VeryLongReason", 1000), message: "a reason of 14,000 characters"},
		{name: "json-and-html", reason: "BackOff", message: `{"success":true} </script><script>alert(1)</script> ${jndi:ldap://127.0.0.1/x} %s %n %!v` + "\\u0000"},
	}
	pods := r.pods(t, ns, len(odd)+2)
	var accepted []string
	var refused []string

	// The huge message: the largest the apiserver accepts, from 1 MiB down.
	var hugeSize int
	for _, size := range []int{1 << 20, 512 << 10, 256 << 10, 64 << 10} {
		ev := backOffEvent(pods[0], fmt.Sprintf("huge-%d", size))
		ev.Message = strings.Repeat("Back-off restarting failed container app ", size/41+1)[:size]
		_, err := r.admin.CoreV1().Events(ns).Create(t.Context(), ev, metav1.CreateOptions{})
		if err == nil {
			hugeSize = size
			accepted = append(accepted, ev.Name)
			break
		}
		refused = append(refused, fmt.Sprintf("message of %d KiB: %v", size>>10, shorten(err.Error(), 200)))
	}
	require.NotZero(t, hugeSize, "the apiserver refused every huge message: %v", refused)

	for i, o := range odd {
		ev := backOffEvent(pods[i+1], o.name)
		ev.Reason, ev.Message = o.reason, o.message
		c := r.admin
		if o.protobuf {
			c = proto
		}
		if _, err := c.CoreV1().Events(ns).Create(t.Context(), ev, metav1.CreateOptions{}); err != nil {
			// Recorded, not fatal: the apiserver's own validation is not
			// what this scenario tests.
			refused = append(refused, fmt.Sprintf("%s: %s", o.name, shorten(err.Error(), 200)))
			continue
		}
		accepted = append(accepted, o.name)
	}
	for _, s := range refused {
		t.Logf("apiserver refused: %s", s)
	}

	// Did the apiserver keep the invalid bytes? (Reported; either way the
	// controller must cope.)
	rawKept := false
	if ev, err := proto.CoreV1().Events(ns).Get(t.Context(), "invalid-utf8", metav1.GetOptions{}); err == nil {
		rawKept = !utf8.ValidString(ev.Message)
	}

	for _, name := range accepted {
		o := r.awaitOutcome(t, p, ns+"/"+name, 60*time.Second)
		assert.Equal(t, v1alpha1.OutcomeAnalysisCompleted, o.Result, "event %s: %+v", name, o)
		assert.LessOrEqual(t, len([]rune(o.Reason)), 128, "outcome reason bounded")
		assert.True(t, utf8.ValidString(o.Reason), "outcome reason is valid UTF-8: %q", o.Reason)
	}
	// Each request the stub got was valid JSON naming the event.
	got := r.received(ns)
	for _, name := range accepted {
		assert.NotNil(t, got[name], "the stub got a valid JSON request for %s", name)
	}
	r.assertAlive(t, pid)

	// A normal event afterwards is delivered.
	next := "normal-after-odd"
	_, err = r.admin.CoreV1().Events(ns).Create(t.Context(), backOffEvent(pods[len(pods)-1], next), metav1.CreateOptions{})
	require.NoError(t, err)
	r.awaitAllDelivered(t, ns, []string{next}, 60*time.Second)
	r.assertAlive(t, pid)
	peak := rss.Stop()
	assert.Less(t, peak, float64(rssBoundMiB), "controller peak RSS (MiB)")

	r.figure(t, "%d odd Events delivered without a panic (message of %d KiB, control characters, invalid UTF-8 in message and reason "+
		"sent as protobuf (apiserver kept the raw bytes: %t), emoji/ZWJ/right-to-left text, 14,000-character reason, "+
		"JSON/HTML/format-string text); %d refused by the apiserver; controller peak RSS %.0f MiB, same process, next normal event delivered",
		len(accepted), hugeSize>>10, rawKept, len(refused), peak)
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
