package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/policy"
)

// secretPath is the credential part of every stub URL: it must never show
// up in logs, status or metrics.
const secretPath = "/services/T000/B000/XSECRETXTOKENX"

var testPolicy = types.NamespacedName{Namespace: "team-a", Name: "crashes"}

// stub is a loopback HTTP server answering with a script of responses, the
// last one repeated.
type stub struct {
	srv     *httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	script  []func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newStub(t *testing.T, script ...func(w http.ResponseWriter, r *http.Request, body []byte)) *stub {
	t.Helper()
	s := &stub{script: script}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := readAll(r)
		s.mu.Lock()
		i := min(len(s.bodies), len(s.script)-1)
		s.bodies = append(s.bodies, b)
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		s.script[i](w, r, b)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stub) url() string { return s.srv.URL + secretPath }

func (s *stub) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func (s *stub) body(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.bodies[i])
}

func readAll(r *http.Request) []byte {
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return []byte(sb.String())
		}
	}
}

// answer replies with a status, a body and optional header pairs.
func answer(status int, body string, header ...string) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// logSink collects every log line.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		l.lines = append(l.lines, prefix+" "+args)
		l.mu.Unlock()
	}, funcr.Options{Verbosity: 10})
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// statusLog collects OnStatus calls.
type statusLog struct {
	mu    sync.Mutex
	calls []string
}

func (s *statusLog) record(_ types.NamespacedName, kind policy.DestinationKind, ok bool, reason, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	state := "ok"
	if !ok {
		state = "failed"
	}
	s.calls = append(s.calls, string(kind)+" "+state+" "+reason+" "+msg)
}

func (s *statusLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.calls, "\n")
}

// secretReader holds one Secret per destination kind, named after it.
func secretReader(t *testing.T, urls map[policy.DestinationKind]string) *fake.ClientBuilder {
	t.Helper()
	scheme := runtime.NewScheme()
	require.NoError(t, corev1.AddToScheme(scheme))
	b := fake.NewClientBuilder().WithScheme(scheme)
	for kind, u := range urls {
		b = b.WithObjects(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: testPolicy.Namespace, Name: string(kind) + "-hook"},
			Data:       map[string][]byte{"url": []byte(u)},
		})
	}
	return b
}

func dest(kind policy.DestinationKind) policy.Destination {
	return policy.Destination{Kind: kind, SecretRef: v1alpha1.SecretKeyReference{Name: string(kind) + "-hook", Key: "url"}, NotifyOnComplete: true}
}

// item is a recorded analysis of a crash-looping Pod.
func item(key string) Item {
	return Item{
		Policy: testPolicy, PolicyUID: "uid-1", Key: key, Phase: PhaseComplete,
		Namespace: "team-a", Object: "Pod/api-7d9f-x2x", EventReason: "BackOff",
		EventMessage: "Back-off restarting failed container api in pod api-7d9f-x2x",
		Mode:         v1alpha1.ModeManual,
		Outcome: v1alpha1.RemediationOutcome{
			Result: v1alpha1.OutcomeAnalysisCompleted, McpStatus: "awaiting_user_approval",
			SessionID: "rem-1764450000000-a1b2c3d4", RootCause: "The container exits because DATABASE_URL is unset.",
		},
		Report: &mcp.Result{
			Status: "awaiting_user_approval", SessionID: "rem-1764450000000-a1b2c3d4",
			Analysis: &mcp.Analysis{RootCause: "The container exits because DATABASE_URL is unset.", Confidence: 0.92},
			Remediation: &mcp.Remediation{Summary: "Restore the missing environment variable.", Risk: "low", Actions: []mcp.Action{
				{Description: "Set DATABASE_URL from the api-db Secret", Command: "kubectl -n team-a set env deployment/api --from=secret/api-db", Risk: "low"},
			}},
		},
	}
}

// run starts n until the test ends.
func run(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// settled waits until every item handed over has an outcome.
func settled(t *testing.T, n *Notifier, want int64) map[policy.DestinationKind]Counts {
	t.Helper()
	var counts map[policy.DestinationKind]Counts
	require.Eventually(t, func() bool {
		var pending int64
		counts, pending = n.Counts()
		var sum int64
		for _, c := range counts {
			sum += c.Sum()
		}
		return pending == 0 && sum == want
	}, 10*time.Second, 5*time.Millisecond)
	return counts
}

func testConfig(allowed ...string) config.Notifications {
	c := config.DefaultNotifications()
	c.GroupWindow = 0
	c.AllowedURLs = allowed
	return c
}
