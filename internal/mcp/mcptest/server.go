// Package mcptest is a stub of the dot-ai remediate REST API for tests and
// the local demo. It speaks the real envelope: Bearer auth (401
// UNAUTHORIZED), issue validation (over 2,000 UTF-16 code units is a 500
// EXECUTION_ERROR, as dot-ai answers), success envelopes for manual and
// automatic mode, and injected failures and latency. It records every
// request it receives.
package mcptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"
)

// RemediatePath is the path of the remediate tool.
const RemediatePath = "/api/v1/tools/remediate"

// Recorded is one received request.
type Recorded struct {
	Time   time.Time   `json:"time"`
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"-"`
	// JSON is the body as sent, for the record file.
	JSON json.RawMessage `json:"body,omitempty"`
}

// Reply is an injected response.
type Reply struct {
	// Status is the HTTP status.
	Status int
	// Body is sent as is (it need not be JSON).
	Body []byte
	// Delay is waited before answering (the request context still wins).
	Delay time.Duration
	// CloseConnection hijacks and closes the connection without an answer.
	CloseConnection bool
	// StreamBytes, when not 0, follows Body with that many more bytes, or
	// with bytes without end when -1 (until the client goes away or the
	// server closes). They are written chunk by chunk as they are sent, so
	// the stub holds one chunk in memory however large the body. A finite
	// body is announced with its Content-Length; an endless one is chunked.
	StreamBytes int64
	// StreamFill is the pattern the streamed bytes repeat (default "x").
	StreamFill []byte
	// StreamChunk is the size of each write (default 32 KiB).
	StreamChunk int
	// StreamInterval is waited between writes (a body that trickles).
	StreamInterval time.Duration
}

// Endless is the StreamBytes of a body that never ends.
const Endless = -1

// Options configure a Server.
type Options struct {
	// Token, when set, is the bearer token the server requires.
	Token string
	// Latency is added before every answer.
	Latency time.Duration
	// RecordFile, when set, gets one JSON line per received request.
	RecordFile string
	// Confidence is the analysis confidence the stub reports (default 0.92).
	Confidence float64
}

// Server is the stub. Use New and Start, or NewHandler with httptest.
type Server struct {
	opts Options

	mu       sync.Mutex
	records  []Recorded
	injected []Reply
	override *Reply
	latency  time.Duration
	record   *os.File
	count    atomic.Int64

	srv *http.Server
	ln  net.Listener
}

// New returns a stopped Server.
func New(opts Options) *Server {
	if opts.Confidence == 0 {
		opts.Confidence = 0.92
	}
	return &Server{opts: opts, latency: opts.Latency}
}

// Start listens on addr (use 127.0.0.1:0 in tests) and serves in the
// background until Close.
func (s *Server) Start(addr string) error {
	if s.opts.RecordFile != "" {
		f, err := os.OpenFile(s.opts.RecordFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("opening record file: %w", err)
		}
		s.record = f
	}
	return s.listen(addr)
}

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.ln, s.srv = ln, srv
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Down stops listening and closes every connection, so clients get
// "connection refused" until Up. Records are kept.
func (s *Server) Down() error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.srv = nil
	return err
}

// Up listens again on the address Down released.
func (s *Server) Up() error {
	if s.srv != nil {
		return errors.New("mcptest: already up")
	}
	return s.listen(s.ln.Addr().String())
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the full remediate URL.
func (s *Server) URL() string { return "http://" + s.Addr() + RemediatePath }

// BaseURL is the server's base URL.
func (s *Server) BaseURL() string { return "http://" + s.Addr() }

// Close stops the server and closes the record file.
func (s *Server) Close() error {
	var errs []error
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			errs = append(errs, s.srv.Close())
		}
	}
	if s.record != nil {
		errs = append(errs, s.record.Close())
	}
	return errors.Join(errs...)
}

// SetLatency changes the latency added before every answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// Inject queues replies answered, in order, to the next requests instead of
// the normal behaviour (auth is checked first only for normal answers).
func (s *Server) Inject(replies ...Reply) {
	s.mu.Lock()
	s.injected = append(s.injected, replies...)
	s.mu.Unlock()
}

// SetOverride answers every request with reply until it is cleared with
// nil (an outage: 503s, or a hang with a long Delay). Injected replies still
// come first.
func (s *Server) SetOverride(reply *Reply) {
	s.mu.Lock()
	s.override = reply
	s.mu.Unlock()
}

// InjectError queues an error envelope.
func (s *Server) InjectError(status int, code, message string) {
	s.Inject(Reply{Status: status, Body: ErrorEnvelope(code, message)})
}

// Requests returns the received requests, oldest first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.records...)
}

// Count is the number of received requests.
func (s *Server) Count() int { return int(s.count.Load()) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	rec := Recorded{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	if json.Valid(body) {
		rec.JSON = body
	}
	s.mu.Lock()
	s.records = append(s.records, rec)
	s.count.Add(1)
	var reply *Reply
	if len(s.injected) > 0 {
		reply = &s.injected[0]
		s.injected = s.injected[1:]
	} else if s.override != nil {
		o := *s.override
		reply = &o
	}
	latency := s.latency
	if s.record != nil {
		redacted := rec
		redacted.Header = redacted.Header.Clone()
		if redacted.Header.Get("Authorization") != "" {
			redacted.Header.Set("Authorization", "Bearer [REDACTED]")
		}
		line, _ := json.Marshal(redacted)
		_, _ = s.record.Write(append(line, '\n'))
	}
	s.mu.Unlock()

	if reply != nil {
		latency += reply.Delay
	}
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if reply != nil {
		if reply.CloseConnection {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if reply.StreamBytes > 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(int64(len(reply.Body))+reply.StreamBytes, 10))
		}
		w.WriteHeader(reply.Status)
		if _, err := w.Write(reply.Body); err != nil || reply.StreamBytes == 0 {
			return
		}
		stream(r.Context(), w, reply)
		return
	}
	status, out := s.answer(r, body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// stream writes reply.StreamBytes bytes of reply.StreamFill (forever when
// Endless), one chunk at a time, until done or the client is gone.
func stream(ctx context.Context, w http.ResponseWriter, reply *Reply) {
	fill := reply.StreamFill
	if len(fill) == 0 {
		fill = []byte("x")
	}
	size := reply.StreamChunk
	if size <= 0 {
		size = 32 << 10
	}
	// Whole patterns per chunk, so the pattern runs on across chunks.
	chunk := bytes.Repeat(fill, max(size/len(fill), 1))
	flusher, _ := w.(http.Flusher)
	left := reply.StreamBytes
	for left != 0 {
		n := int64(len(chunk))
		if left > 0 {
			n = min(n, left)
		}
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		if left > 0 {
			left -= n
		}
		if flusher != nil {
			flusher.Flush()
		}
		if reply.StreamInterval > 0 {
			select {
			case <-time.After(reply.StreamInterval):
			case <-ctx.Done():
				return
			}
		} else if ctx.Err() != nil {
			return
		}
	}
}

// What dot-ai itself serves and assumes, independent of the controller's
// defaults: its remediate tool, and the threshold it applies when an
// automatic request carries none.
const (
	remediateTool             = "remediate"
	serverConfidenceThreshold = 0.8
)

func (s *Server) answer(r *http.Request, body []byte) (int, []byte) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/api/v1/tools/") {
		return http.StatusNotFound, ErrorEnvelope("NOT_FOUND", "no route "+r.Method+" "+r.URL.Path)
	}
	if tool := strings.TrimPrefix(r.URL.Path, "/api/v1/tools/"); tool != remediateTool {
		return http.StatusNotFound, ErrorEnvelope("TOOL_NOT_FOUND", fmt.Sprintf("Tool '%s' not found", tool))
	}
	if s.opts.Token != "" {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			auth = r.Header.Get("X-Dot-AI-Authorization")
		}
		if auth != "Bearer "+s.opts.Token {
			return http.StatusUnauthorized, ErrorEnvelope("UNAUTHORIZED", "Authentication required")
		}
	}
	var req struct {
		Issue               *string  `json:"issue"`
		Mode                string   `json:"mode"`
		ConfidenceThreshold *float64 `json:"confidenceThreshold"`
		MaxRiskLevel        string   `json:"maxRiskLevel"`
		SessionID           string   `json:"sessionId"`
		ExecuteChoice       int      `json:"executeChoice"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusBadRequest, ErrorEnvelope("INVALID_REQUEST", "Request body must be valid JSON")
	}
	if req.SessionID != "" && req.ExecuteChoice != 0 {
		return executeAnswer(req.SessionID, req.ExecuteChoice)
	}
	if req.Issue == nil || *req.Issue == "" {
		return http.StatusInternalServerError, ErrorEnvelope("EXECUTION_ERROR", "Invalid parameters: issue is required")
	}
	if n := len(utf16.Encode([]rune(*req.Issue))); n > 2000 {
		return http.StatusInternalServerError, ErrorEnvelope("EXECUTION_ERROR",
			fmt.Sprintf("Invalid parameters: issue must be at most 2000 characters (got %d)", n))
	}
	n := s.count.Load()
	session := fmt.Sprintf("rem-%d-stub%04d", time.Now().UnixMilli(), n)
	analysis := map[string]any{
		"rootCause":  "Stub analysis of: " + firstLine(*req.Issue),
		"confidence": s.opts.Confidence,
		"factors":    []string{"stub factor"},
	}
	remediation := map[string]any{
		"summary": "Restart the failing workload",
		"risk":    "low",
		"actions": []map[string]any{{"description": "Restart the deployment", "command": "kubectl rollout restart deployment/app", "risk": "low", "rationale": "stub"}},
	}
	var result map[string]any
	if req.Mode == "automatic" {
		threshold := serverConfidenceThreshold
		if req.ConfidenceThreshold != nil {
			threshold = *req.ConfidenceThreshold
		}
		if s.opts.Confidence < threshold {
			result = map[string]any{"status": "success", "sessionId": session, "executed": false, "mode": "automatic",
				"analysis": analysis, "remediation": remediation,
				"fallbackReason": fmt.Sprintf("Confidence %.2f below threshold %.2f", s.opts.Confidence, threshold)}
		} else {
			result = map[string]any{"status": "success", "sessionId": session, "executed": true, "mode": "automatic",
				"analysis": analysis, "remediation": remediation,
				"results":          []map[string]any{{"action": "kubectl rollout restart deployment/app", "success": true, "output": "deployment.apps/app restarted", "timestamp": time.Now().UTC().Format(time.RFC3339)}},
				"executedCommands": []string{"kubectl rollout restart deployment/app"},
				"validation":       map[string]any{"success": true, "summary": "Issue resolved"},
				"message":          "Remediation executed successfully"}
		}
	} else {
		result = map[string]any{"status": "awaiting_user_approval", "sessionId": session, "executed": false, "mode": "manual",
			"investigation": map[string]any{"iterations": 1, "dataGathered": []string{"stub"}},
			"analysis":      analysis, "remediation": remediation,
			"validationIntent": "Check the pods are running", "guidance": "Review the proposed actions",
			"message": "Analysis complete", "executionChoices": []map[string]any{{"id": 1, "label": "Execute via MCP"}, {"id": 2, "label": "Execute via agent"}}}
	}
	return http.StatusOK, SuccessEnvelope(result, 1234)
}

// executeAnswer is dot-ai's answer to the second call of a manual-mode
// session: {sessionId, executeChoice: 1} executes the proposal.
func executeAnswer(session string, choice int) (int, []byte) {
	if !strings.HasPrefix(session, "rem-") {
		return http.StatusNotFound, ErrorEnvelope("SESSION_NOT_FOUND", "Session "+session+" not found")
	}
	if choice != 1 {
		return http.StatusBadRequest, ErrorEnvelope("INVALID_REQUEST", fmt.Sprintf("executeChoice %d is not supported by the stub", choice))
	}
	result := map[string]any{"status": "success", "sessionId": session, "executed": true, "mode": "manual",
		"results":          []map[string]any{{"action": "kubectl rollout restart deployment/app", "success": true, "output": "deployment.apps/app restarted", "timestamp": time.Now().UTC().Format(time.RFC3339)}},
		"executedCommands": []string{"kubectl rollout restart deployment/app"},
		"validation":       map[string]any{"success": true, "summary": "Issue resolved"},
		"message":          "Remediation executed successfully"}
	return http.StatusOK, SuccessEnvelope(result, 2345)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if r := []rune(line); len(r) > 200 {
		line = string(r[:200])
	}
	return line
}

// SuccessEnvelope builds dot-ai's success envelope around a result.
func SuccessEnvelope(result any, executionTimeMillis int64) []byte {
	b, _ := json.Marshal(map[string]any{
		"success": true,
		"data":    map[string]any{"result": result, "tool": "remediate", "executionTime": executionTimeMillis},
		"meta":    map[string]any{"timestamp": time.Now().UTC().Format(time.RFC3339), "requestId": "rest_stub", "version": "v1"},
	})
	return b
}

// ErrorEnvelope builds dot-ai's error envelope.
func ErrorEnvelope(code, message string) []byte {
	b, _ := json.Marshal(map[string]any{
		"success": false,
		"error":   map[string]any{"code": code, "message": message},
		"meta":    map[string]any{"timestamp": time.Now().UTC().Format(time.RFC3339), "requestId": "rest_stub", "version": "v1"},
	})
	return b
}
