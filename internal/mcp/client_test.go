package mcp

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/internal/mcp/mcptest"
	"dot-ai.io/controller/internal/version"
)

func startStub(t *testing.T, opts mcptest.Options) *mcptest.Server {
	t.Helper()
	s := mcptest.New(opts)
	require.NoError(t, s.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func fastClient(t *testing.T, o Options) *Client {
	t.Helper()
	if o.BaseBackoff == 0 {
		o.BaseBackoff = time.Millisecond
		o.MaxBackoff = 2 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	c, err := New(o)
	require.NoError(t, err)
	return c
}

func manual(issue string) *Request { return &Request{Issue: issue, Mode: "manual"} }

func automatic(issue string) *Request {
	ct := 0.8
	return &Request{Issue: issue, Mode: "automatic", ConfidenceThreshold: &ct, MaxRiskLevel: "low"}
}

func TestResponses(t *testing.T) {
	huge := `{"success":true,"data":{"result":{"status":"success","message":"` + strings.Repeat("x", 2<<20) + `"}}}`
	tests := map[string]struct {
		reply        *mcptest.Reply
		token        string
		body         *Request
		wantKind     ErrorKind
		wantCode     string
		wantStatus   string
		wantExecuted bool
		wantRequests int
	}{
		"manual analysis":               {body: manual("crash"), wantStatus: "awaiting_user_approval", wantRequests: 1},
		"automatic executed":            {body: automatic("crash"), wantStatus: "success", wantExecuted: true, wantRequests: 1},
		"missing token is 401":          {token: "-", body: manual("x"), wantKind: KindUnauthorized, wantCode: "UNAUTHORIZED", wantRequests: 1},
		"issue over 2000 is 500":        {body: manual(strings.Repeat("é", 2001)), wantKind: KindRejected, wantCode: "EXECUTION_ERROR", wantRequests: 1},
		"400 envelope":                  {reply: env(400, "INVALID_REQUEST"), body: manual("x"), wantKind: KindRejected, wantCode: "INVALID_REQUEST", wantRequests: 1},
		"403 envelope":                  {reply: env(403, "FORBIDDEN"), body: manual("x"), wantKind: KindUnauthorized, wantCode: "FORBIDDEN", wantRequests: 1},
		"404 envelope":                  {reply: env(404, "TOOL_NOT_FOUND"), body: manual("x"), wantKind: KindRejected, wantCode: "TOOL_NOT_FOUND", wantRequests: 1},
		"500 never retried":             {reply: env(500, "EXECUTION_ERROR"), body: manual("x"), wantKind: KindRejected, wantCode: "EXECUTION_ERROR", wantRequests: 1},
		"500 non-JSON":                  {reply: &mcptest.Reply{Status: 500, Body: []byte("<html>oops</html>")}, body: manual("x"), wantKind: KindRejected, wantCode: "HTTP_500", wantRequests: 1},
		"200 non-JSON":                  {reply: &mcptest.Reply{Status: 200, Body: []byte("<html>hello</html>")}, body: manual("x"), wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantRequests: 1},
		"200 JSON not an envelope":      {reply: &mcptest.Reply{Status: 200, Body: []byte(`{"ok":1}`)}, body: manual("x"), wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantRequests: 1},
		"200 success without result":    {reply: &mcptest.Reply{Status: 200, Body: []byte(`{"success":true,"data":{}}`)}, body: manual("x"), wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantRequests: 1},
		"200 with error envelope":       {reply: env(200, "EXECUTION_ERROR"), body: manual("x"), wantKind: KindRejected, wantCode: "EXECUTION_ERROR", wantRequests: 1},
		"huge body bounded":             {reply: &mcptest.Reply{Status: 200, Body: []byte(huge)}, body: manual("x"), wantKind: KindMalformed, wantCode: "RESPONSE_TOO_LARGE", wantRequests: 1},
		"502 retried in manual mode":    {reply: &mcptest.Reply{Status: 502, Body: []byte("bad gateway")}, body: manual("x"), wantStatus: "awaiting_user_approval", wantRequests: 2},
		"503 not retried in automatic":  {reply: env(503, "UNAVAILABLE"), body: automatic("x"), wantKind: KindUnreachable, wantCode: "UNAVAILABLE", wantRequests: 1},
		"504 retried then succeeds":     {reply: &mcptest.Reply{Status: 504}, body: manual("x"), wantStatus: "awaiting_user_approval", wantRequests: 2},
		"closed connection, manual":     {reply: &mcptest.Reply{CloseConnection: true}, body: manual("x"), wantStatus: "awaiting_user_approval", wantRequests: 2},
		"closed connection, automatic":  {reply: &mcptest.Reply{CloseConnection: true}, body: automatic("x"), wantKind: KindUnreachable, wantCode: "CONNECTION_ERROR", wantRequests: 1},
		"wrong tool is 404 from server": {body: manual("x"), wantStatus: "awaiting_user_approval", wantRequests: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startStub(t, mcptest.Options{Token: "s3cret"})
			if tc.reply != nil {
				srv.Inject(*tc.reply)
			}
			c := fastClient(t, Options{MaxAttempts: 3})
			token := "s3cret"
			if tc.token == "-" {
				token = ""
			}
			resp, err := c.Do(context.Background(), Call{URL: srv.URL(), Token: token, IdempotencyKey: "k", Body: tc.body})
			assert.Equal(t, tc.wantRequests, srv.Count(), "requests received")
			if tc.wantKind != "" {
				require.Error(t, err)
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, tc.wantKind, e.Kind)
				assert.Equal(t, tc.wantCode, e.Code)
				assert.NotContains(t, err.Error(), "s3cret")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantStatus, resp.Envelope.Data.Result.Status)
			assert.Equal(t, tc.wantExecuted, resp.Envelope.Data.Result.Executed)
			assert.Equal(t, tc.wantRequests, resp.Attempts)
		})
	}
}

func env(status int, code string) *mcptest.Reply {
	return &mcptest.Reply{Status: status, Body: mcptest.ErrorEnvelope(code, "injected "+code)}
}

func TestHeaders(t *testing.T) {
	srv := startStub(t, mcptest.Options{Token: "tok"})
	c := fastClient(t, Options{})
	_, err := c.Do(context.Background(), Call{URL: srv.URL(), Token: "tok", IdempotencyKey: "abc123", Body: manual("x")})
	require.NoError(t, err)
	_, err = c.Do(context.Background(), Call{URL: srv.URL(), Body: manual("x")})
	require.Error(t, err)
	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	h := reqs[0].Header
	assert.Equal(t, "Bearer tok", h.Get("Authorization"))
	assert.Equal(t, "abc123", h.Get(IdempotencyHeader))
	assert.Equal(t, version.UserAgent(), h.Get("User-Agent"))
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.JSONEq(t, `{"issue":"x","mode":"manual"}`, string(reqs[0].Body))
	assert.Empty(t, reqs[1].Header.Get("Authorization"), "no token, no header")
}

func TestRedirectNotFollowed(t *testing.T) {
	target := startStub(t, mcptest.Options{})
	redirector := httptest.NewServer(http.RedirectHandler(target.URL(), http.StatusTemporaryRedirect))
	t.Cleanup(redirector.Close)
	c := fastClient(t, Options{})
	_, err := c.Do(context.Background(), Call{URL: redirector.URL + "/api/v1/tools/remediate", Token: "tok", Body: manual("x")})
	require.Error(t, err)
	assert.Equal(t, 0, target.Count(), "the token never follows a redirect")
}

func TestBackoffWithFakeClock(t *testing.T) {
	srv := startStub(t, mcptest.Options{})
	srv.Inject(mcptest.Reply{Status: 503}, mcptest.Reply{Status: 502})
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	c, err := New(Options{Clock: clk, Rand: func() float64 { return 0.5 }, BaseBackoff: time.Second, MaxBackoff: 30 * time.Second, MaxAttempts: 4, Timeout: 5 * time.Second})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := c.Do(context.Background(), Call{URL: srv.URL(), Body: manual("x")})
		done <- err
	}()
	// Attempt 1 fails (503); the wait is 1s/2 + 0.5*1s/2 = 750ms.
	require.Eventually(t, clk.HasWaiters, 5*time.Second, time.Millisecond)
	assert.Equal(t, 1, srv.Count())
	clk.Step(749 * time.Millisecond)
	assert.Equal(t, 1, srv.Count(), "no retry before the backoff elapsed")
	clk.Step(time.Millisecond)
	require.Eventually(t, func() bool { return srv.Count() == 2 }, 5*time.Second, time.Millisecond)
	// Attempt 2 fails (502); the wait doubles: 2s/2 + 0.5*2s/2 = 1.5s.
	require.Eventually(t, clk.HasWaiters, 5*time.Second, time.Millisecond)
	clk.Step(1499 * time.Millisecond)
	assert.Equal(t, 2, srv.Count())
	clk.Step(time.Millisecond)
	require.NoError(t, <-done)
	assert.Equal(t, 3, srv.Count())
}

func TestBackoffBounds(t *testing.T) {
	for _, r := range []float64{0, 0.999} {
		c := fastClient(t, Options{BaseBackoff: time.Second, MaxBackoff: 8 * time.Second, Rand: func() float64 { return r }})
		for attempt := 1; attempt < 10; attempt++ {
			d := c.backoff(attempt)
			want := min(time.Second<<(attempt-1), 8*time.Second)
			assert.GreaterOrEqual(t, d, want/2)
			assert.LessOrEqual(t, d, want)
		}
	}
}

// TestMaxCallDuration: the defaults (four attempts of 5 minutes, backoff
// capped at 30 s) bound a call by 21m30s.
func TestMaxCallDuration(t *testing.T) {
	c, err := New(Options{})
	require.NoError(t, err)
	assert.Equal(t, 21*time.Minute+30*time.Second, c.MaxCallDuration())
	c, err = New(Options{MaxAttempts: 1, Timeout: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, time.Minute, c.MaxCallDuration())
}

func TestDialErrorsRetriedEvenInAutomaticMode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := fastClient(t, Options{MaxAttempts: 3, BreakerThreshold: 100})
	_, err = c.Do(context.Background(), Call{URL: "http://" + addr + "/api/v1/tools/remediate", Body: automatic("x")})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, KindUnreachable, e.Kind)
	assert.Equal(t, "CONNECTION_ERROR", e.Code)
	assert.False(t, e.Sent)
	assert.Equal(t, 3, e.Attempts, "nothing was sent, so retrying is safe")
}

func TestSlowResponseTimesOut(t *testing.T) {
	srv := startStub(t, mcptest.Options{Latency: 3 * time.Second})
	c := fastClient(t, Options{Timeout: 100 * time.Millisecond, MaxAttempts: 3})
	before := counterValue(requests.WithLabelValues("timeout"))
	start := time.Now()
	_, err := c.Do(context.Background(), Call{URL: srv.URL(), Body: automatic("x")})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "TIMEOUT", e.Code)
	assert.True(t, e.Sent)
	assert.Equal(t, 1, e.Attempts, "an automatic call is never repeated once sent")
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, before+1, counterValue(requests.WithLabelValues("timeout")))
}

func TestCircuitBreaker(t *testing.T) {
	srv := startStub(t, mcptest.Options{})
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	c, err := New(Options{Clock: clk, MaxAttempts: 1, BreakerThreshold: 2, BreakerCooldown: 30 * time.Second, Timeout: 5 * time.Second})
	require.NoError(t, err)
	call := Call{URL: srv.URL(), Body: manual("x")}
	srv.Inject(mcptest.Reply{Status: 503}, mcptest.Reply{Status: 503}, mcptest.Reply{Status: 503})
	for range 2 {
		_, err := c.Do(context.Background(), call)
		require.Error(t, err)
	}
	assert.Equal(t, 30*time.Second, c.BreakerWait(srv.URL()))
	_, err = c.Do(context.Background(), call)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, KindBreakerOpen, e.Kind)
	assert.Equal(t, 30*time.Second, e.RetryAfter)
	assert.Equal(t, 2, srv.Count(), "an open breaker sends nothing")

	// Half-open after the cooldown: one probe; it fails (503) and re-opens.
	clk.Step(30 * time.Second)
	assert.Zero(t, c.BreakerWait(srv.URL()))
	_, err = c.Do(context.Background(), call)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, KindUnreachable, e.Kind)
	assert.Equal(t, 3, srv.Count())
	assert.Equal(t, 30*time.Second, c.BreakerWait(srv.URL()))

	// The next probe succeeds and closes it.
	clk.Step(30 * time.Second)
	_, err = c.Do(context.Background(), call)
	require.NoError(t, err)
	assert.Zero(t, c.BreakerWait(srv.URL()))
	// 4xx answers prove the server is up: they never open the breaker.
	for range 3 {
		srv.InjectError(400, "INVALID_REQUEST", "bad")
		_, err = c.Do(context.Background(), call)
		require.Error(t, err)
	}
	assert.Zero(t, c.BreakerWait(srv.URL()))
}

func TestHalfOpenAllowsOneProbe(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	b := newBreakers(clk, 1, 10*time.Second)
	assert.Zero(t, b.acquire("k"))
	b.done("k", false)
	assert.Equal(t, 10*time.Second, b.acquire("k"))
	clk.Step(10 * time.Second)
	assert.Zero(t, b.acquire("k"), "the probe")
	assert.Positive(t, b.acquire("k"), "others wait while the probe is in flight")
	b.done("k", true)
	assert.Zero(t, b.acquire("k"))

	b.done("k", false)
	clk.Step(10 * time.Second)
	assert.Zero(t, b.acquire("k"), "probe")
	b.release("k")
	assert.Zero(t, b.acquire("k"), "a released probe can be taken again")
	assert.Positive(t, b.acquire("k"))
}

func TestCustomCA(t *testing.T) {
	stub := mcptest.New(mcptest.Options{})
	ts := httptest.NewTLSServer(stub)
	t.Cleanup(ts.Close)
	url := ts.URL + mcptest.RemediatePath

	plain := fastClient(t, Options{MaxAttempts: 1})
	_, err := plain.Do(context.Background(), Call{URL: url, Body: manual("x")})
	require.Error(t, err, "TLS is verified")
	var uaErr x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &uaErr)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600))
	withCA := fastClient(t, Options{CAFile: caFile})
	_, err = withCA.Do(context.Background(), Call{URL: url, Body: manual("x")})
	require.NoError(t, err)

	_, err = New(Options{CAFile: filepath.Join(t.TempDir(), "missing.pem")})
	require.Error(t, err)
}

func TestToolURL(t *testing.T) {
	tests := []struct{ endpoint, tool, want, wantErr string }{
		{"http://127.0.0.1:3456/api/v1/tools/remediate", "", "http://127.0.0.1:3456/api/v1/tools/remediate", ""},
		{"http://127.0.0.1:3456/api/v1/tools/remediate", "other", "http://127.0.0.1:3456/api/v1/tools/remediate", ""},
		{"http://127.0.0.1:3456", "remediate", "http://127.0.0.1:3456/api/v1/tools/remediate", ""},
		{"http://127.0.0.1:3456/", "custom", "http://127.0.0.1:3456/api/v1/tools/custom", ""},
		{"https://localhost/dot-ai", "", "https://localhost/dot-ai/api/v1/tools/remediate", ""},
		{"ftp://127.0.0.1/", "", "", "not an absolute"},
		{"/relative", "", "", "not an absolute"},
	}
	for _, tc := range tests {
		got, err := ToolURL(tc.endpoint, tc.tool)
		if tc.wantErr != "" {
			assert.ErrorContains(t, err, tc.wantErr, tc.endpoint)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, tc.endpoint)
	}
}

func TestInvalidURL(t *testing.T) {
	c := fastClient(t, Options{})
	_, err := c.Do(context.Background(), Call{URL: "not a url", Body: manual("x")})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, KindInvalid, e.Kind)
}

func TestCanceledContext(t *testing.T) {
	srv := startStub(t, mcptest.Options{Latency: 5 * time.Second})
	c := fastClient(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		require.Eventually(t, func() bool { return srv.Count() == 1 }, 5*time.Second, time.Millisecond)
		cancel()
	}()
	_, err := c.Do(ctx, Call{URL: srv.URL(), Body: manual("x")})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, KindCanceled, e.Kind)
	assert.Equal(t, 1, srv.Count())
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// maxErrorText bounds Error() of a failed call, however hostile the answer:
// the message ends up in logs, Events and the policy's status.
const maxErrorText = 2048

// TestHostileResponses answers with what a broken or hostile server could
// send. Every case must end in a clear error (kind and code), with a
// message that is valid UTF-8 and bounded in length, and the bytes the
// client allocated must stay bounded by MaxResponseBytes, not the body.
func TestHostileResponses(t *testing.T) {
	const limit = DefaultMaxResponseBytes
	prefix := []byte(`{"success":true,"data":{"result":{"status":"success","message":"`)
	nested := func(depth int) []byte {
		return []byte(`{"success":true,"data":{"result":{"status":"success","investigation":` +
			strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}}`)
	}
	tests := map[string]struct {
		reply    mcptest.Reply
		body     *Request
		wantKind ErrorKind
		wantCode string
		// wantInMessage is a substring the message must carry (a clear reason).
		wantInMessage string
		wantRequests  int
	}{
		"100 MB body": {
			reply:    mcptest.Reply{Status: 200, Body: prefix, StreamBytes: 100 << 20},
			wantKind: KindMalformed, wantCode: "RESPONSE_TOO_LARGE", wantInMessage: "exceeds 1048576 bytes", wantRequests: 1,
		},
		"endless body": {
			reply:    mcptest.Reply{Status: 200, Body: prefix, StreamBytes: mcptest.Endless},
			wantKind: KindMalformed, wantCode: "RESPONSE_TOO_LARGE", wantInMessage: "exceeds", wantRequests: 1,
		},
		"endless body of a 503 is not retried": {
			reply:    mcptest.Reply{Status: 503, StreamBytes: mcptest.Endless},
			wantKind: KindMalformed, wantCode: "RESPONSE_TOO_LARGE", wantRequests: 1,
		},
		"endless error body of a 500": {
			reply:    mcptest.Reply{Status: 500, Body: []byte(`{"success":false,"error":{"code":"E","message":"`), StreamBytes: mcptest.Endless},
			wantKind: KindMalformed, wantCode: "RESPONSE_TOO_LARGE", wantRequests: 1,
		},
		"invalid UTF-8 body": {
			reply:    mcptest.Reply{Status: 200, Body: []byte("\xff\xfe\xfd garbage \xc3\x28 \xed\xa0\x80")},
			wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantInMessage: "not a dot-ai envelope", wantRequests: 1,
		},
		"invalid UTF-8 in an error envelope": {
			reply:    mcptest.Reply{Status: 500, Body: []byte("{\"success\":false,\"error\":{\"code\":\"BAD_\xff\",\"message\":\"broken \xc3\x28 text \xed\xa0\x80\"}}")},
			wantKind: KindRejected, wantCode: "BAD_\uFFFD", wantInMessage: "broken", wantRequests: 1,
		},
		"control characters in an error envelope": {
			reply:    mcptest.Reply{Status: 400, Body: mcptest.ErrorEnvelope("BAD\nCODE", "line one\r\nline two\x1b[31m red\x00")},
			wantKind: KindRejected, wantCode: "BAD CODE", wantInMessage: "line one", wantRequests: 1,
		},
		"huge message in an error envelope": {
			reply:    mcptest.Reply{Status: 500, Body: mcptest.ErrorEnvelope(strings.Repeat("C", 10000), strings.Repeat("é", 400000))},
			wantKind: KindRejected, wantInMessage: "éé", wantRequests: 1,
		},
		"success is a string": {
			reply:    mcptest.Reply{Status: 200, Body: []byte(`{"success":"yes","data":{"result":{"status":"success"}}}`)},
			wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantInMessage: "success", wantRequests: 1,
		},
		"data.result is a number": {
			reply:    mcptest.Reply{Status: 200, Body: []byte(`{"success":true,"data":{"result":42}}`)},
			wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantInMessage: "result", wantRequests: 1,
		},
		"error is a string": {
			reply:    mcptest.Reply{Status: 200, Body: []byte(`{"success":false,"error":"boom"}`)},
			wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantInMessage: "error", wantRequests: 1,
		},
		"error is a string in a 500": {
			reply:    mcptest.Reply{Status: 500, Body: []byte(`{"success":false,"error":"boom"}`)},
			wantKind: KindRejected, wantCode: "HTTP_500", wantInMessage: "error response is not a dot-ai envelope", wantRequests: 1,
		},
		"executed is a string": {
			reply:    mcptest.Reply{Status: 200, Body: []byte(`{"success":true,"data":{"result":{"status":"success","executed":"true"}}}`)},
			wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantInMessage: "executed", wantRequests: 1,
		},
		"JSON null": {
			reply:    mcptest.Reply{Status: 200, Body: []byte(`null`)},
			wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantInMessage: "no success field", wantRequests: 1,
		},
		"JSON array": {
			reply:    mcptest.Reply{Status: 200, Body: []byte(`[1,2,3]`)},
			wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantRequests: 1,
		},
		"trailing garbage": {
			reply:    mcptest.Reply{Status: 200, Body: append(mcptest.SuccessEnvelope(map[string]any{"status": "success"}, 1), "}{"...)},
			wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantRequests: 1,
		},
		"deeply nested JSON": {
			reply:    mcptest.Reply{Status: 200, Body: nested(200000)},
			wantKind: KindMalformed, wantCode: "MALFORMED_RESPONSE", wantInMessage: "depth", wantRequests: 1,
		},
		"deeply nested JSON over the size limit": {
			reply:    mcptest.Reply{Status: 200, Body: []byte(`{"success":true,"data":{"result":{"investigation":`), StreamBytes: 50 << 20, StreamFill: []byte("[")},
			wantKind: KindMalformed, wantCode: "RESPONSE_TOO_LARGE", wantRequests: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startStub(t, mcptest.Options{})
			srv.SetOverride(&tc.reply)
			// A generous timeout: a bounded read must end these calls, not
			// the clock.
			c := fastClient(t, Options{MaxAttempts: 3, Timeout: time.Minute})
			body := tc.body
			if body == nil {
				body = manual("x")
			}
			runtime.GC()
			before := totalAlloc()
			start := time.Now()
			_, err := c.Do(context.Background(), Call{URL: srv.URL(), Body: body})
			elapsed := time.Since(start)
			alloc := totalAlloc() - before

			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.wantKind, e.Kind, "%v", err)
			if tc.wantCode != "" {
				assert.Equal(t, tc.wantCode, e.Code, "%v", err)
			}
			msg := err.Error()
			assert.True(t, utf8.ValidString(msg), "message is valid UTF-8: %q", msg)
			assert.True(t, utf8.ValidString(e.Code), "code is valid UTF-8: %q", e.Code)
			assert.LessOrEqual(t, len(msg), maxErrorText, "message length")
			assert.LessOrEqual(t, len(e.Code), 128, "code length")
			assert.False(t, strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }), "no control characters: %q", msg)
			if tc.wantInMessage != "" {
				assert.Contains(t, msg, tc.wantInMessage)
			}
			assert.Equal(t, tc.wantRequests, srv.Count(), "requests: hostile answers are not retried")
			assert.Less(t, elapsed, 20*time.Second, "returns, does not hang")
			// The stub (same process) allocates a chunk per request; the
			// client its read buffer of at most MaxResponseBytes+1 (grown
			// by append) and the decoding of it. Nothing scales with the
			// body's size: about 2.2 MiB for every large body here (4.4 MiB
			// under -race), against bodies of 50 MB, 100 MB and without end.
			assert.Less(t, alloc, uint64(8*limit), "allocated %d bytes for %q", alloc, name)
			t.Logf("%s: %v (%s, %.1f MiB allocated)", name, truncateForLog(msg), elapsed.Round(time.Millisecond), float64(alloc)/(1<<20))
		})
	}
}

// TestTrickleBodyTimesOut: a body that never ends but arrives too slowly to
// reach the size limit is ended by the per-attempt timeout.
func TestTrickleBodyTimesOut(t *testing.T) {
	srv := startStub(t, mcptest.Options{})
	srv.SetOverride(&mcptest.Reply{Status: 200, Body: []byte(`{"success":`), StreamBytes: mcptest.Endless, StreamChunk: 1, StreamFill: []byte(" "), StreamInterval: 10 * time.Millisecond})
	c := fastClient(t, Options{MaxAttempts: 1, Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := c.Do(context.Background(), Call{URL: srv.URL(), Body: automatic("x")})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, KindUnreachable, e.Kind)
	assert.Equal(t, "TIMEOUT", e.Code)
	assert.True(t, e.Sent)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

func truncateForLog(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

func TestServerText(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"plain", 10, "plain"},
		{"a\nb\tc\x00d\x1b[0m\x7f", 20, "a b c d [0m "},
		{"bad \xff\xfe byte", 20, "bad \uFFFD byte"},
		{strings.Repeat("a", 10), 10, strings.Repeat("a", 10)},
		{strings.Repeat("a", 11), 10, strings.Repeat("a", 7) + "…"},
		{strings.Repeat("é", 6), 10, "ééé…"},                            // cut at a rune boundary
		{"ab\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 10, "ab\uFFFD…"}, // long, though the repair shrank it
	}
	for _, tc := range tests {
		got := serverText(tc.in, tc.n)
		assert.Equal(t, tc.want, got, "%q", tc.in)
		assert.True(t, utf8.ValidString(got))
		assert.LessOrEqual(t, len(got), tc.n)
	}
}
