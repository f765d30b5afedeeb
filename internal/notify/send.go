package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/internal/endpoint"
	"dot-ai.io/controller/internal/policy"
)

// Reasons of a failed send: bounded metric label values and condition
// reasons. None carries a URL.
const (
	ReasonOK              = "ok"
	ReasonSecret          = "secret_unreadable"
	ReasonURLNotAllowed   = "url_not_allowed"
	ReasonConnection      = "connection_error"
	ReasonRateLimited     = "rate_limited"
	ReasonServerError     = "server_error"
	ReasonRetriesExceeded = "retries_exceeded"
	ReasonRender          = "render_error"
)

// slackErrors are the answers Slack's incoming webhooks give in the body of
// a refusal; one of them becomes the reason, anything else "http_<code>".
var slackErrors = []string{
	"invalid_payload", "no_service", "channel_is_archived", "action_prohibited", "user_not_found",
	"channel_not_found", "invalid_token", "no_text", "posting_to_general_channel_denied", "team_disabled", "no_service_id",
}

// attempt is how one POST ended.
type attempt struct {
	ok         bool
	retryable  bool
	reason     string
	retryAfter time.Duration
}

// classify turns an answer into an attempt: 2xx is success; 429 and 5xx
// are retried (429 after its Retry-After); any other status is permanent.
func classify(kind policy.DestinationKind, status int, header http.Header, body []byte, now time.Time) attempt {
	switch {
	case status >= 200 && status < 300:
		return attempt{ok: true, reason: ReasonOK}
	case status == http.StatusTooManyRequests:
		return attempt{retryable: true, reason: ReasonRateLimited, retryAfter: retryAfter(header.Get("Retry-After"), now)}
	case status >= 500:
		return attempt{retryable: true, reason: ReasonServerError}
	}
	reason := "http_" + strconv.Itoa(status)
	if kind == policy.DestinationSlack {
		if b := strings.TrimSpace(string(body)); slices.Contains(slackErrors, b) {
			reason = b
		}
	}
	return attempt{reason: reason}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// destinationURL reads the destination's URL from its Secret (uncached) and
// checks it: Slack only on https://hooks.slack.com, Google Chat only on
// https://chat.googleapis.com, anything (webhook, or a test's loopback
// stub) also when the installation's allow-list admits it (decision 19 (docs/design/decisions.md#d19)
// (docs/design/decisions.md#d19)). Errors never repeat the URL.
func (n *Notifier) destinationURL(ctx context.Context, ns string, d policy.Destination) (url, reason string, err error) {
	url, err = n.readURL(ctx, ns, d)
	if err != nil {
		return "", ReasonSecret, err
	}
	if !n.allowed(d.Kind, url) {
		return "", ReasonURLNotAllowed, fmt.Errorf("webhookUrlSecretRef: the URL in Secret %s/%s key %q is not allowed for %s (%s)",
			ns, d.SecretRef.Name, d.SecretRef.Key, d.Kind, allowedHint(d.Kind))
	}
	return url, "", nil
}

func (n *Notifier) readURL(ctx context.Context, ns string, d policy.Destination) (string, error) {
	var s corev1.Secret
	err := n.secrets.Get(ctx, client.ObjectKey{Namespace: ns, Name: d.SecretRef.Name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("webhookUrlSecretRef: Secret %s/%s not found", ns, d.SecretRef.Name)
	case apierrors.IsForbidden(err):
		return "", fmt.Errorf("webhookUrlSecretRef: reading Secret %s/%s is forbidden", ns, d.SecretRef.Name)
	case err != nil:
		return "", fmt.Errorf("webhookUrlSecretRef: reading Secret %s/%s failed", ns, d.SecretRef.Name)
	}
	raw := strings.TrimSpace(string(s.Data[d.SecretRef.Key]))
	if raw == "" {
		return "", fmt.Errorf("webhookUrlSecretRef: Secret %s/%s has no non-empty key %q", ns, d.SecretRef.Name, d.SecretRef.Key)
	}
	if _, err := endpoint.Parse(raw); err != nil {
		return "", fmt.Errorf("webhookUrlSecretRef: the URL in Secret %s/%s key %q %w", ns, d.SecretRef.Name, d.SecretRef.Key, err)
	}
	return raw, nil
}

// Hosts the chat services' webhooks live on.
var serviceRules = map[policy.DestinationKind]endpoint.AllowList{
	policy.DestinationSlack:      mustRules("https://hooks.slack.com/"),
	policy.DestinationGoogleChat: mustRules("https://chat.googleapis.com/"),
}

func mustRules(raw ...string) endpoint.AllowList {
	l, err := endpoint.ParseAllowList(raw)
	if err != nil {
		panic(err)
	}
	return l
}

func (n *Notifier) allowed(kind policy.DestinationKind, raw string) bool {
	return serviceRules[kind].Allows(raw) || n.allowList.Allows(raw)
}

func allowedHint(kind policy.DestinationKind) string {
	switch kind {
	case policy.DestinationSlack:
		return "it must start with https://hooks.slack.com/ or be in the chart value notifications.allowedURLs"
	case policy.DestinationGoogleChat:
		return "it must start with https://chat.googleapis.com/ or be in the chart value notifications.allowedURLs"
	}
	return "it must be in the chart value notifications.allowedURLs"
}

// post sends body to url until it is accepted, refused for good, or the
// attempts run out, waiting between attempts (Retry-After on 429,
// exponential backoff otherwise).
func (n *Notifier) post(ctx context.Context, kind policy.DestinationKind, url, contentType string, body []byte) attempt {
	var last attempt
	for i := range n.opts.MaxAttempts {
		if i > 0 {
			wait := n.opts.Backoff << (i - 1)
			if last.retryAfter > 0 {
				wait = last.retryAfter
			}
			wait = min(wait, n.opts.MaxRetryWait)
			metricRetries.WithLabelValues(string(kind), last.reason).Inc()
			if n.opts.observeWait != nil {
				n.opts.observeWait(wait)
			}
			select {
			case <-ctx.Done():
				return attempt{reason: ReasonConnection}
			case <-n.clock.After(wait):
			}
		}
		last = n.postOnce(ctx, kind, url, contentType, body)
		if last.ok || !last.retryable {
			return last
		}
	}
	if last.reason == ReasonConnection || last.reason == ReasonServerError || last.reason == ReasonRateLimited {
		return attempt{reason: ReasonRetriesExceeded + "_" + last.reason}
	}
	return last
}

func (n *Notifier) postOnce(ctx context.Context, kind policy.DestinationKind, url, contentType string, body []byte) attempt {
	ctx, cancel := context.WithTimeout(ctx, n.opts.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return attempt{reason: ReasonURLNotAllowed}
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := n.http.Do(req)
	if err != nil {
		// The error is not kept: a *url.Error repeats the URL.
		return attempt{retryable: true, reason: ReasonConnection}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return classify(kind, resp.StatusCode, resp.Header, b, n.clock.Now())
}

// render encodes m for its destination kind.
func render(m *Message, now time.Time) (body []byte, contentType string, err error) {
	switch m.Kind {
	case policy.DestinationSlack:
		body, err = json.Marshal(RenderSlack(m))
		return body, "application/json", err
	case policy.DestinationGoogleChat:
		body, err = json.Marshal(RenderGoogleChat(m))
		return body, "application/json; charset=UTF-8", err
	case policy.DestinationWebhook:
		e, err := RenderCloudEvent(m, now)
		if err != nil {
			return nil, "", err
		}
		body, err = json.Marshal(e)
		return body, "application/cloudevents+json", err
	}
	return nil, "", errors.New("unknown destination kind")
}
