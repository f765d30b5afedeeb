package watcher

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/relatedevents"
	"dot-ai.io/controller/internal/state"
	"dot-ai.io/controller/internal/testenv"
)

// The restart test runs the watcher in a child process (this test binary in
// helper mode) so it can be killed with SIGKILL.
const (
	envChild       = "DOT_AI_WATCHER_CHILD"
	envKubeconfig  = "DOT_AI_WATCHER_KUBECONFIG"
	envStubURL     = "DOT_AI_WATCHER_STUB_URL"
	envLeaderElect = "DOT_AI_WATCHER_LEADER_ELECT"
	// envDotai makes the child deliver with the controller's own deliverer
	// to the stub MCP (mcptest) at envStubURL.
	envDotai = "DOT_AI_WATCHER_DOTAI"
	// envChildID names the child in what it sends, so the stub knows which
	// process sent each request.
	envChildID = "DOT_AI_WATCHER_CHILD_ID"
	childDelay = 20 * time.Millisecond
	childReady = "WATCHER READY"
	// envHeapProfile, set for the memory benchmark's child, names a file
	// for its allocation profile at start-up's end.
	envHeapProfile = "DOT_AI_WATCHER_HEAP_PROFILE"
	// envNoEventIndex, set for the memory benchmark's child, runs it
	// without the related-events index, to measure what the index adds.
	envNoEventIndex = "DOT_AI_WATCHER_NO_EVENT_INDEX"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(runChild())
	}
	flag.Parse()
	if testing.Verbose() {
		ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	}
	os.Exit(m.Run())
}

// postDeliverer posts each occurrence to a stub MCP on 127.0.0.1.
type postDeliverer struct {
	url   string
	delay time.Duration
	id    string // the child's envChildID
}

func (p postDeliverer) Deliver(ctx context.Context, req delivery.Request) delivery.Result {
	failed := delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeDeliveryFailed}}
	select {
	case <-time.After(p.delay):
	case <-ctx.Done():
		return failed
	}
	body := req.Event.Namespace + "/" + req.Event.Name + " " + req.OccurrenceKey + " " + p.id
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, strings.NewReader(body))
	if err != nil {
		return failed
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return failed
	}
	_ = resp.Body.Close()
	return delivery.Result{Outcome: v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeAnalysisCompleted}}
}

func runChild() int {
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(envKubeconfig))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv(envNotifyURL) != "" {
		return runNotifyChild(cfg)
	}
	s := testSettings()
	t := &childT{}
	var d delivery.Deliverer = postDeliverer{url: os.Getenv(envStubURL), delay: childDelay, id: os.Getenv(envChildID)}
	switch {
	case os.Getenv(envStubURL) == "":
		d = &recorder{} // memory benchmark: nothing to deliver to
	case os.Getenv(envDotai) == "1" && os.Getenv(envExecutor) == "1":
		startLoop(t, cfg, intentSettings(os.Getenv(envStubURL)))
		fmt.Println(childReady)
		<-make(chan struct{}) // run until killed
	case os.Getenv(envDotai) == "1":
		s = intentSettings(os.Getenv(envStubURL))
		d = newDotai(t, cfg, s)
	}
	if os.Getenv(envLeaderElect) == "1" {
		startManager(t, cfg, s, d, nil, true) // leader or standby
		<-make(chan struct{})
	}
	// As in the controller, the intake feeds the related-events index (its
	// memory counts in the memory benchmark); nothing here looks it up.
	var opts []Option
	if os.Getenv(envNoEventIndex) == "" {
		opts = append(opts, WithEventIndex(relatedevents.New(relatedevents.Options{})))
	}
	r := startWatcher(t, cfg, s, d, nil, opts...)
	fmt.Println(childReady)                            // startWatcher returns once the Event cache synced
	if path := os.Getenv(envHeapProfile); path != "" { // memory benchmark: where the heap went
		if f, err := os.Create(path); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			_ = f.Close()
		}
	}
	<-make(chan struct{}) // run until killed
	r.stop(t)
	return 0
}

// childT satisfies testing.TB's use in startWatcher outside a test.
type childT struct{ testing.TB }

func (childT) Helper()                           {}
func (childT) Errorf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (childT) FailNow()                          { os.Exit(1) }
func (childT) Fatal(args ...any)                 { fmt.Fprintln(os.Stderr, args...); os.Exit(1) }
func (childT) Cleanup(func())                    {} // the child runs until killed

func writeKubeconfig(t testing.TB, cfg *rest.Config) string {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["env"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["env"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["env"] = &clientcmdapi.Context{Cluster: "env", AuthInfo: "env"}
	kc.CurrentContext = "env"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}

// stub is the MCP stand-in: it records which child sent each occurrence.
type stub struct {
	mu    sync.Mutex
	count map[string]int
	// senders lists, per occurrence key, the children that sent it.
	senders map[string][]string
	total   int
}

func newStub() *stub { return &stub{count: map[string]int{}, senders: map[string][]string{}} }

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f := strings.Fields(string(b))
	s.mu.Lock()
	if len(f) == 3 {
		s.count[f[0]]++
		s.senders[f[1]] = append(s.senders[f[1]], f[2])
	}
	s.total++
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *stub) stats() (unique, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.count), s.total
}

// sentBy returns the occurrence keys child id sent, and the keys sent more
// than once with their senders.
func (s *stub) sentBy(id string) (sent map[string]bool, dups map[string][]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sent, dups = map[string]bool{}, map[string][]string{}
	for key, from := range s.senders {
		if slices.Contains(from, id) {
			sent[key] = true
		}
		if len(from) > 1 {
			dups[key] = slices.Clone(from)
		}
	}
	return sent, dups
}

type child struct {
	id  string
	cmd *exec.Cmd
	out *bytes.Buffer
}

var childSeq atomic.Int64

func startChild(t *testing.T, kubeconfig, url string, extraEnv ...string) *child {
	id := fmt.Sprintf("child-%d", childSeq.Add(1))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envKubeconfig+"="+kubeconfig, envStubURL+"="+url, envChildID+"="+id)
	cmd.Env = append(cmd.Env, extraEnv...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	c := &child{id: id, cmd: cmd, out: out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("child output:\n%s", tail(out.String(), 4000))
		}
	})
	return c
}

func (c *child) kill(t *testing.T) {
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	_ = c.cmd.Wait()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// killFixture is what the SIGKILL tests start from: namespace ns with a Pod
// "victim" and a policy "p" matching its Warnings at up to 10,000 per
// minute, the stub MCP on 127.0.0.1 and a kubeconfig for the children.
type killFixture struct {
	client     client.Client
	ns         string
	policy     *v1alpha1.RemediationPolicy
	stub       *stub
	url        string
	kubeconfig string
}

func newKillFixture(t *testing.T, ns string) *killFixture {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	createNamespace(t, c, "dot-ai", nil)
	createNamespace(t, c, ns, nil)
	createPod(t, c, ns, "victim")
	p := newPolicy(ns, "p", v1alpha1.EventSelector{Type: "Warning"})
	p.Spec.RateLimiting.EventsPerMinute = ptr.To[int32](10000)
	require.NoError(t, c.Create(context.Background(), p))
	st := newStub()
	srv := httptest.NewServer(st) // 127.0.0.1:0
	t.Cleanup(srv.Close)
	return &killFixture{client: c, ns: ns, policy: p, stub: st, url: srv.URL, kubeconfig: writeKubeconfig(t, env.Config)}
}

// createEvents creates total Warning Events on the victim Pod in the
// background; the channel gets each index once created and is closed at the
// end (or at the first error).
func (f *killFixture) createEvents(t *testing.T, total int) <-chan int {
	created := make(chan int, total)
	go func() {
		defer close(created)
		for i := range total {
			now := metav1.Now()
			err := f.client.Create(context.Background(), &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Namespace: f.ns, Name: fmt.Sprintf("ev-%03d", i)},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "victim", Namespace: f.ns, APIVersion: "v1"},
				Type:           "Warning", Reason: "BackOff", Count: 1, FirstTimestamp: now, LastTimestamp: now,
			})
			if !assert.NoError(t, err) {
				return
			}
			created <- i
		}
	}()
	return created
}

func TestRestartAfterSIGKILL(t *testing.T) {
	f := newKillFixture(t, "restart")
	c, p, st, kubeconfig := f.client, f.policy, f.stub, f.kubeconfig

	first := startChild(t, kubeconfig, f.url)
	waitReason(t, c, p, v1alpha1.ReasonActive)

	const total = 400
	created := f.createEvents(t, total)
	// Kill mid-stream, once deliveries are flowing.
	require.Eventually(t, func() bool { u, _ := st.stats(); return u >= 100 }, 60*time.Second, 5*time.Millisecond)
	first.kill(t)
	handled := f.checkpoint(t)
	n := 0
	for range created { // the rest is created while the controller is down
		n++
	}
	require.Equal(t, total, n)

	startChild(t, kubeconfig, f.url)
	require.Eventually(t, func() bool { u, _ := st.stats(); return u == total }, 120*time.Second, 20*time.Millisecond,
		"every matching event reaches the stub")
	f.assertExactAfterKill(t, first.id, handled, total)
}

// checkpoint reads the policy's saved checkpoint, as a killed controller
// left it.
func (f *killFixture) checkpoint(t *testing.T) *checkpoint {
	t.Helper()
	cp, _, err := (&state.Store{Namespace: "dot-ai", Reader: f.client, Writer: f.client}).LoadCheckpoint(context.Background(), f.policy.UID)
	require.NoError(t, err)
	if cp == nil {
		return newCheckpoint(time.Time{})
	}
	return checkpointFromState(cp)
}

// assertExactAfterKill checks what is exactly true after killed was
// SIGKILLed and another controller took over (decision 4 (docs/design/decisions.md#d4)
// (docs/design/decisions.md#d4), decision 18 (docs/design/decisions.md#d18)): the occurrences sent twice
// are exactly those the killed one sent whose outcome the checkpoint read
// after the kill does not hold, each sent once by each; and once everything
// is delivered the status counts every occurrence exactly once, equal to the
// final checkpoint's counters.
func (f *killFixture) assertExactAfterKill(t *testing.T, killed string, handledAtKill *checkpoint, total int) {
	t.Helper()
	sent, dups := f.stub.sentBy(killed)
	want := map[string]bool{}
	for key := range sent {
		parts := strings.Split(key, "/") // policy UID / event UID / occurrence
		require.Len(t, parts, 3, key)
		count, err := strconv.ParseInt(parts[2], 10, 32)
		require.NoError(t, err)
		if !handledAtKill.isHandled(types.UID(parts[1]), int32(count), time.Time{}) {
			want[key] = true
		}
	}
	got := map[string]bool{}
	for key, from := range dups {
		got[key] = true
		assert.Len(t, from, 2, "%s: sent at most once by each controller: %v", key, from)
		assert.Equal(t, killed, from[0], "%s: first sent by the killed controller", key)
		assert.NotEqual(t, killed, from[1], "%s: then by its successor", key)
	}
	assert.Equal(t, want, got, "duplicates are exactly the killed controller's sends without a checkpointed outcome")
	t.Logf("killed controller sent %d occurrences, %d of them without a checkpointed outcome: %d duplicates", len(sent), len(want), len(got))

	var st v1alpha1.RemediationPolicyStatus
	require.Eventually(t, func() bool {
		var cur v1alpha1.RemediationPolicy
		if f.client.Get(context.Background(), client.ObjectKeyFromObject(f.policy), &cur) != nil {
			return false
		}
		st = cur.Status
		return st.TotalEventsProcessed >= int64(total)
	}, 30*time.Second, 20*time.Millisecond, "the status shows every occurrence")
	assert.Equal(t, int64(total), st.TotalEventsProcessed, "each occurrence counted exactly once")
	assert.Equal(t, int64(total), st.AnalysesCompleted)
	assert.Equal(t, st.TotalEventsProcessed, st.OutcomeSum())
	assert.Equal(t, f.checkpoint(t).Counts, st.OutcomeCounts, "the status is the checkpoint's counters")
}

// TestFailoverToStandby: two controllers with leader election; the leader is
// SIGKILLed mid-stream and the standby delivers the rest once the Lease
// expires, within the same duplicate bound.
func TestFailoverToStandby(t *testing.T) {
	f := newKillFixture(t, "failover")
	c, p, st, kubeconfig := f.client, f.policy, f.stub, f.kubeconfig

	leader := startChild(t, kubeconfig, f.url, envLeaderElect+"=1")
	waitReason(t, c, p, v1alpha1.ReasonActive) // only a leader writes status
	startChild(t, kubeconfig, f.url, envLeaderElect+"=1")

	const total = 300
	created := f.createEvents(t, total)
	require.Eventually(t, func() bool { u, _ := st.stats(); return u >= 80 }, 60*time.Second, 5*time.Millisecond)
	leader.kill(t)
	handled := f.checkpoint(t)
	for range created { // until every Event was created
	}
	require.Eventually(t, func() bool { u, _ := st.stats(); return u == total }, 120*time.Second, 20*time.Millisecond,
		"the standby delivers every matching event")
	f.assertExactAfterKill(t, leader.id, handled, total)
}
