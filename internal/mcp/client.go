package mcp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/text"
	"dot-ai.io/controller/internal/version"
)

// Defaults of Options.
const (
	DefaultTimeout          = 5 * time.Minute
	DefaultMaxAttempts      = 4
	DefaultBaseBackoff      = time.Second
	DefaultMaxBackoff       = 30 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
	// IdempotencyHeader carries the hash of the policy UID and the event
	// occurrence, so a server that deduplicates can drop a repeated call.
	IdempotencyHeader = "Idempotency-Key"
)

// Options configure a Client. Zero values take the defaults above.
type Options struct {
	// Timeout bounds one attempt (the installation's --mcp-timeout).
	Timeout time.Duration
	// CAFile is an optional PEM bundle trusted besides the system roots.
	CAFile string
	// MaxAttempts bounds the attempts of one call, the first included.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the exponential backoff between
	// attempts (equal jitter: half fixed, half random).
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// MaxResponseBytes caps the response body read.
	MaxResponseBytes int64
	// BreakerThreshold consecutive unreachable attempts open an endpoint's
	// circuit breaker for BreakerCooldown.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// Clock drives backoff and the breaker (a fake clock in tests).
	Clock clock.Clock
	// Rand returns a number in [0,1) for jitter; tests fix it.
	Rand func() float64
	// Transport replaces the default transport (tests only).
	Transport http.RoundTripper
}

// Client calls the remediate tool. It is safe for concurrent use and reuses
// connections across calls.
type Client struct {
	opts     Options
	http     *http.Client
	breakers *breakers
}

// positiveOr replaces an unset (zero or negative) option with its default.
func positiveOr[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// New returns a Client; it fails only when CAFile cannot be read.
func New(opts Options) (*Client, error) {
	positiveOr(&opts.Timeout, DefaultTimeout)
	positiveOr(&opts.MaxAttempts, DefaultMaxAttempts)
	positiveOr(&opts.BaseBackoff, DefaultBaseBackoff)
	positiveOr(&opts.MaxBackoff, DefaultMaxBackoff)
	positiveOr(&opts.MaxResponseBytes, DefaultMaxResponseBytes)
	positiveOr(&opts.BreakerThreshold, DefaultBreakerThreshold)
	positiveOr(&opts.BreakerCooldown, DefaultBreakerCooldown)
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	rt := opts.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Deliveries run with high concurrency against few endpoints.
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 128
		tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("reading MCP CA file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("MCP CA file %s holds no PEM certificate", opts.CAFile)
			}
			tlsConfig.RootCAs = pool
		}
		t.TLSClientConfig = tlsConfig
		rt = t
	}
	return &Client{
		opts:     opts,
		http:     &http.Client{Transport: rt, CheckRedirect: noRedirect},
		breakers: newBreakers(opts.Clock, opts.BreakerThreshold, opts.BreakerCooldown),
	}, nil
}

// A redirect could carry the bearer token elsewhere: never follow one.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Call is one remediate call.
type Call struct {
	// URL is the full remediate URL (see ToolURL).
	URL string
	// Token is the bearer token; empty sends no Authorization header.
	Token string
	// IdempotencyKey is sent as the Idempotency-Key header.
	IdempotencyKey string
	// Body is the request.
	Body *Request
}

// automatic reports whether the call may execute a remediation (automatic
// mode, or the execute call of an approved proposal): such a call is never
// repeated once sent.
func (c Call) automatic() bool {
	return c.Body != nil && (c.Body.Mode == string(v1alpha1.ModeAutomatic) || c.Body.ExecuteChoice != 0)
}

// Response is a successful call's decoded envelope.
type Response struct {
	Envelope   Envelope
	StatusCode int
	Attempts   int
}

// ErrorKind classifies a failed call.
type ErrorKind string

const (
	// KindUnauthorized means HTTP 401 or 403.
	KindUnauthorized ErrorKind = "Unauthorized"
	// KindUnreachable means connection errors, timeouts and 502/503/504, after
	// the retries that were allowed.
	KindUnreachable ErrorKind = "Unreachable"
	// KindRejected means the server answered with an error envelope or another
	// error status (400, 404, 500, ...). Not retried.
	KindRejected ErrorKind = "Rejected"
	// KindMalformed means the response was not a valid envelope (non-JSON, too
	// large, no result).
	KindMalformed ErrorKind = "Malformed"
	// KindBreakerOpen means the endpoint's circuit breaker is open; nothing was
	// sent. RetryAfter says when to try again.
	KindBreakerOpen ErrorKind = "BreakerOpen"
	// KindInvalid means the call could not be built (bad URL).
	KindInvalid ErrorKind = "Invalid"
	// KindCanceled means the caller's context ended.
	KindCanceled ErrorKind = "Canceled"
)

// Error is a failed call. Code is dot-ai's error.code when the server sent
// one, else a synthetic code (HTTP_<status>, CONNECTION_ERROR, TIMEOUT,
// MALFORMED_RESPONSE, RESPONSE_TOO_LARGE, CIRCUIT_OPEN, CANCELED).
type Error struct {
	Kind       ErrorKind
	StatusCode int
	Code       string
	Message    string
	Attempts   int
	RetryAfter time.Duration
	// Sent reports whether the last attempt's request reached the wire.
	Sent bool
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("MCP call failed: ")
	b.WriteString(e.Code)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// BreakerWait returns how long the endpoint's circuit breaker stays open, or
// 0 when calls may be made.
func (c *Client) BreakerWait(rawURL string) time.Duration {
	return c.breakers.wait(breakerKey(rawURL))
}

// MaxCallDuration is the longest one Do may take: every attempt up to its
// timeout and the longest backoff between them (a breaker that opens
// mid-call ends it early).
func (c *Client) MaxCallDuration() time.Duration {
	n := time.Duration(c.opts.MaxAttempts)
	return n*c.opts.Timeout + (n-1)*c.opts.MaxBackoff
}

// Do makes the call, retrying what decision 5 (docs/design/decisions.md#d5) allows: failures before the
// request was sent, connection errors and timeouts of manual-mode calls, and
// 502/503/504 answers to manual-mode calls. HTTP 500 is never retried and an
// automatic-mode call is never repeated once its request was written.
func (c *Client) Do(ctx context.Context, call Call) (*Response, error) {
	u, err := url.Parse(call.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{Kind: KindInvalid, Code: "INVALID_ENDPOINT", Message: fmt.Sprintf("endpoint %q is not an absolute http(s) URL", call.URL)}
	}
	body, err := json.Marshal(call.Body)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Code: "INVALID_REQUEST", Message: err.Error(), Err: err}
	}
	key := breakerKey(call.URL)
	for attempt := 1; ; attempt++ {
		if wait := c.breakers.acquire(key); wait > 0 {
			breakerRejections.Inc()
			return nil, &Error{Kind: KindBreakerOpen, Code: "CIRCUIT_OPEN", Message: "circuit breaker of " + key + " is open", Attempts: attempt - 1, RetryAfter: wait}
		}
		resp, callErr, retryable := c.once(ctx, call, body)
		var e *Error
		if errors.As(callErr, &e) {
			e.Attempts = attempt
			if e.Kind == KindCanceled || e.Kind == KindInvalid {
				// Says nothing about the server's health.
				c.breakers.release(key)
			} else {
				c.breakers.done(key, e.Kind != KindUnreachable)
			}
		} else {
			c.breakers.done(key, true)
		}
		if callErr == nil {
			resp.Attempts = attempt
			return resp, nil
		}
		if !retryable || attempt >= c.opts.MaxAttempts {
			return nil, callErr
		}
		retries.Inc()
		select {
		case <-ctx.Done():
			return nil, &Error{Kind: KindCanceled, Code: "CANCELED", Message: "canceled while waiting to retry: " + e.Message, Attempts: attempt, Err: ctx.Err()}
		case <-c.opts.Clock.After(c.backoff(attempt)):
		}
	}
}

// backoff is the wait after the given attempt: base·2^(attempt-1), capped,
// with equal jitter.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.BaseBackoff
	for i := 1; i < attempt && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxBackoff)
	return d/2 + time.Duration(c.opts.Rand()*float64(d/2))
}

// once makes one attempt and says whether a failure may be retried.
func (c *Client) once(ctx context.Context, call Call, body []byte) (*Response, error, bool) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	req, err := http.NewRequestWithContext(actx, http.MethodPost, call.URL, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Code: "INVALID_ENDPOINT", Message: err.Error(), Err: err}, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", version.UserAgent())
	if call.Token != "" {
		req.Header.Set("Authorization", "Bearer "+call.Token)
	}
	if call.IdempotencyKey != "" {
		req.Header.Set(IdempotencyHeader, call.IdempotencyKey)
	}
	start := c.opts.Clock.Now()
	resp, err := c.http.Do(req)
	sent := wrote.Load()
	if err != nil {
		requestDuration.Observe(c.opts.Clock.Since(start).Seconds())
		return nil, c.transportError(ctx, actx, err, sent), c.transportRetryable(ctx, call, sent)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
	}()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	requestDuration.Observe(c.opts.Clock.Since(start).Seconds())
	if readErr != nil {
		e := c.transportError(ctx, actx, readErr, true)
		return nil, e, c.transportRetryable(ctx, call, true)
	}
	requests.WithLabelValues(codeLabel(resp.StatusCode)).Inc()
	if int64(len(data)) > c.opts.MaxResponseBytes {
		return nil, &Error{Kind: KindMalformed, StatusCode: resp.StatusCode, Code: "RESPONSE_TOO_LARGE", Sent: true,
			Message: fmt.Sprintf("response body exceeds %d bytes", c.opts.MaxResponseBytes)}, false
	}
	return decode(resp.StatusCode, data, call.automatic())
}

func decode(status int, data []byte, automatic bool) (*Response, error, bool) {
	var env Envelope
	jsonErr := json.Unmarshal(data, &env)
	if jsonErr == nil && env.Success == nil {
		jsonErr = errors.New("no success field")
	}
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		e := &Error{Kind: KindUnreachable, StatusCode: status, Code: "HTTP_" + strconv.Itoa(status), Sent: true, Message: http.StatusText(status)}
		if jsonErr == nil && env.Error != nil {
			e.Code, e.Message = serverText(env.Error.Code, maxCodeBytes), serverText(env.Error.Message, maxMessageBytes)
		}
		return nil, e, !automatic
	}
	if jsonErr != nil {
		if status >= 400 {
			return nil, &Error{Kind: kindForStatus(status), StatusCode: status, Code: "HTTP_" + strconv.Itoa(status), Sent: true,
				Message: "error response is not a dot-ai envelope (" + jsonErr.Error() + "): " + snippet(data)}, false
		}
		return nil, &Error{Kind: KindMalformed, StatusCode: status, Code: "MALFORMED_RESPONSE", Sent: true,
			Message: "response is not a dot-ai envelope (" + jsonErr.Error() + "): " + snippet(data)}, false
	}
	if status >= 300 || !*env.Success {
		e := &Error{Kind: kindForStatus(status), StatusCode: status, Code: "HTTP_" + strconv.Itoa(status), Sent: true, Message: http.StatusText(status)}
		if env.Error != nil {
			if env.Error.Code != "" {
				e.Code = serverText(env.Error.Code, maxCodeBytes)
			}
			if env.Error.Message != "" {
				e.Message = serverText(env.Error.Message, maxMessageBytes)
			}
		}
		if status < 300 {
			e.Kind = KindRejected
		}
		return nil, e, false
	}
	if env.Data == nil || env.Data.Result == nil {
		return nil, &Error{Kind: KindMalformed, StatusCode: status, Code: "MALFORMED_RESPONSE", Sent: true,
			Message: "success envelope without data.result"}, false
	}
	return &Response{Envelope: env, StatusCode: status}, nil, false
}

func kindForStatus(status int) ErrorKind {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return KindUnauthorized
	}
	return KindRejected
}

func (c *Client) transportError(parent, attempt context.Context, err error, sent bool) *Error {
	switch {
	case parent.Err() != nil:
		requests.WithLabelValues("canceled").Inc()
		return &Error{Kind: KindCanceled, Code: "CANCELED", Message: "call canceled", Sent: sent, Err: err}
	case attempt.Err() != nil || isTimeout(err):
		requests.WithLabelValues("timeout").Inc()
		return &Error{Kind: KindUnreachable, Code: "TIMEOUT", Message: fmt.Sprintf("no response within %s", c.opts.Timeout), Sent: sent, Err: err}
	default:
		requests.WithLabelValues("connection_error").Inc()
		return &Error{Kind: KindUnreachable, Code: "CONNECTION_ERROR", Message: err.Error(), Sent: sent, Err: err}
	}
}

// transportRetryable: a request that never reached the wire is always safe
// to retry; once sent, only a manual-mode (analysis only) call is.
func (c *Client) transportRetryable(parent context.Context, call Call, sent bool) bool {
	if parent.Err() != nil {
		return false
	}
	return !sent || !call.automatic()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// snippetBytes bounds the part of an unexpected body quoted in an error.
const snippetBytes = 120

func snippet(data []byte) string {
	s := strings.ToValidUTF8(text.Truncate(string(data[:min(len(data), snippetBytes+1)]), snippetBytes), "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, s)
	if len(data) > snippetBytes {
		s += text.Ellipsis
	}
	return strconv.Quote(s)
}

// Bounds of the error code and message a server sends, which end up in
// logs, Events and the policy's status (a message fits an outcome's whole).
const (
	maxCodeBytes    = 128
	maxMessageBytes = v1alpha1.MaxOutcomeMessageLength
)

// serverText makes a server-sent string safe to show: valid UTF-8, control
// characters (newlines, terminal escapes, NUL) turned into spaces, at most n
// bytes (cut at a rune boundary, marked with "…").
func serverText(s string, n int) string {
	long := len(s) > n
	s = text.Truncate(s, n)
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if !long && len(s) <= n {
		return s
	}
	return text.Truncate(s, n-len(text.Ellipsis)) + text.Ellipsis
}

// ToolURL resolves a policy's endpoint and mcpTool to the URL to POST to.
// An endpoint whose path already ends in /api/v1/tools/<tool> is the full
// remediate URL and is used as is (mcpTool does not rewrite it); any other
// endpoint is a base URL and gets /api/v1/tools/<mcpTool> appended.
func ToolURL(endpoint, tool string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("endpoint %q is not an absolute http(s) URL", endpoint)
	}
	dir, last, _ := cutLast(strings.TrimSuffix(u.Path, "/"))
	if strings.HasSuffix(dir, "/api/v1/tools") && last != "" {
		return endpoint, nil
	}
	if tool == "" {
		tool = config.DefaultMcpTool
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/tools/" + url.PathEscape(tool)
	u.RawPath = ""
	return u.String(), nil
}

func cutLast(p string) (string, string, bool) {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return "", p, false
	}
	return p[:i], p[i+1:], true
}
