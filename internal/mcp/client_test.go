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
	"strings"
	"testing"
	"time"

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
