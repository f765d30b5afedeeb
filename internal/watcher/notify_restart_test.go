package watcher

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/notify"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/state"
	"dot-ai.io/controller/internal/testenv"
)

// envNotifyURL makes the child notify a CloudEvents receiver at this URL
// (and allow it), with the notifier the controller runs.
const envNotifyURL = "DOT_AI_WATCHER_NOTIFY_URL"

// runNotifyChild is the child of TestNotificationsAfterSIGKILL: the
// watcher and the notifier as cmd/dot-ai-controller wires them, with short
// group windows.
func runNotifyChild(cfg *rest.Config) int {
	t := &childT{}
	s := notifySettings(os.Getenv(envNotifyURL))
	d := postDeliverer{url: os.Getenv(envStubURL), delay: childDelay, id: os.Getenv(envChildID)}
	startNotifying(t, cfg, s, d, logr.Discard())
	fmt.Println(childReady)
	<-make(chan struct{}) // run until killed
	return 0
}

func notifySettings(allowed string) *config.Settings {
	s := testSettings()
	s.Notifications.AllowedURLs = []string{allowed}
	s.Notifications.GroupWindow = 100 * time.Millisecond
	s.Notifications.MaxPerMinute = 10000
	s.Notifications.Workers = 2
	s.Notifications.MaxGroupItems = 5
	return s
}

// startNotifying starts a manager with the watcher and the notifier wired
// as cmd/dot-ai-controller wires them, logging to log; it returns once the
// watcher is ready and stops the manager when the test ends.
func startNotifying(t testing.TB, cfg *rest.Config, s *config.Settings, d delivery.Deliverer, log logr.Logger) *Watcher {
	mgr, err := manager.New(cfg, manager.Options{Scheme: testenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Logger: log})
	require.NoError(t, err)
	var w *Watcher
	n := notify.New(s.Notifications, mgr.GetAPIReader(), notify.Options{
		Journal: &notify.StateJournal{Store: &state.Store{Namespace: s.Namespace, Reader: mgr.GetAPIReader(), Writer: mgr.GetClient()}},
		OnStatus: func(p types.NamespacedName, kind policy.DestinationKind, ok bool, reason, msg string) {
			w.NotificationStatus(p, kind, ok, reason, msg)
		},
		OnEnded: func(p types.NamespacedName, uid types.UID, kind policy.DestinationKind, o notify.Outcome, seqs []uint64, id string) {
			w.NotificationEnded(p, uid, kind, o, seqs, id)
		},
		RequestTimeout: time.Minute,
		MaxAttempts:    2,
		Backoff:        10 * time.Millisecond,
		Log:            log.WithName("notify"),
	})
	w, err = New(mgr, s, d, WithNotifier(n), WithStatusInterval(200*time.Millisecond), WithCheckpointInterval(200*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, mgr.Add(n))
	require.NoError(t, w.SetupWithManager(mgr))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, w.Ready, 30*time.Second, 20*time.Millisecond)
	return w
}

// ceReceiver is the CloudEvents destination: it records every message and,
// after holdAfter accepted ones and until release, keeps the answer back
// (the message is in flight).
type ceReceiver struct {
	mu        sync.Mutex
	msgs      []ceMessage
	holdAfter int
	accepted  int
	released  bool
	release   chan struct{}
}

type ceMessage struct {
	id       string
	keys     []string
	total    int
	accepted bool
}

func (r *ceReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	var e struct {
		ID   string `json:"id"`
		Data struct {
			Total int `json:"total"`
			Items []struct {
				Key string `json:"key"`
			} `json:"items"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	m := ceMessage{id: e.ID, total: e.Data.Total}
	for _, it := range e.Data.Items {
		m.keys = append(m.keys, it.Key)
	}
	r.mu.Lock()
	hold := r.accepted >= r.holdAfter && !r.released
	if m.accepted = !hold; m.accepted {
		r.accepted++
	}
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	if hold {
		<-r.release // answered after the sender was killed
	}
	w.WriteHeader(http.StatusAccepted)
}

func (r *ceReceiver) stats() (accepted, held int, acceptedItems, heldItems int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m.accepted {
			accepted++
			acceptedItems += int64(m.total)
		} else {
			held++
			heldItems += int64(m.total)
		}
	}
	return accepted, held, acceptedItems, heldItems
}

// TestNotificationsAfterSIGKILL: a controller is SIGKILLed during a burst
// with notification messages in flight, in open group windows and owed in
// its checkpoint; the next one sends the owed items that no intent covers
// and counts those of the messages in flight as interrupted. No message and
// no item reaches the receiver twice, and once all is delivered every
// notified outcome has exactly one counted notification outcome, in the
// checkpoint and in the policy's status.
func TestNotificationsAfterSIGKILL(t *testing.T) {
	f := newKillFixture(t, "notify-restart")
	c := f.client
	recv := &ceReceiver{holdAfter: 3, release: make(chan struct{})}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	var releaseOnce sync.Once
	release := func() {
		releaseOnce.Do(func() {
			recv.mu.Lock()
			recv.released = true
			recv.mu.Unlock()
			close(recv.release)
		})
	}
	t.Cleanup(release)
	require.NoError(t, c.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "hook"},
		StringData: map[string]string{"url": srv.URL + "/hook"},
	}))
	updatePolicy(t, c, f.policy, func(p *v1alpha1.RemediationPolicy) {
		p.Spec.Notifications = &v1alpha1.Notifications{Webhook: &v1alpha1.NotificationDestination{
			WebhookURLSecretRef: &v1alpha1.SecretKeyReference{Name: "hook", Key: "url"}, NotifyOnComplete: new(true)}}
	})
	env := envNotifyURL + "=" + srv.URL + "/"

	first := startChild(t, f.kubeconfig, f.url, env)
	waitReason(t, c, f.policy, v1alpha1.ReasonActive)
	// A burst in three phases: until both workers wait for an answer; then
	// more, until items are owed beyond those messages (queued, in a group
	// window); then more while the controller is down.
	total := 0
	burst := func(until func() bool, most int) {
		for range most {
			if until != nil && until() {
				return
			}
			createEvent(t, c, f.ns, fmt.Sprintf("ev-%03d", total), "Warning", "BackOff", "Pod", "victim")
			total++
			time.Sleep(5 * time.Millisecond) // a burst over several group windows, not one list
		}
		if until != nil {
			require.Eventually(t, until, 30*time.Second, 10*time.Millisecond)
		}
	}
	burst(func() bool { _, h, _, _ := recv.stats(); return h >= 2 }, 250)
	burst(func() bool {
		_, _, _, heldItems := recv.stats()
		return int64(len(f.checkpoint(t).Notify.Owed)) > heldItems
	}, 100)
	first.kill(t)
	atKill := f.checkpoint(t)
	intents, err := (&state.Store{Namespace: "dot-ai", Reader: c, Writer: c}).Notifications(context.Background())
	require.NoError(t, err)
	_, held, _, heldItems := recv.stats()
	assert.Len(t, intents, held, "each message in flight left its intent")
	owedAtKill := int64(len(atKill.Notify.Owed))
	assert.Greater(t, owedAtKill, heldItems, "items were owed that no intent covers (queued or in a group window)")
	release()
	burst(nil, 50) // while the controller is down

	startChild(t, f.kubeconfig, f.url, env)
	var final *checkpoint
	var unique int
	if !assert.Eventually(t, func() bool {
		unique, _ = f.stub.stats()
		final = f.checkpoint(t)
		return unique == total && final.Counts.AnalysesCompleted == int64(total) && len(final.Notify.Owed) == 0
	}, 120*time.Second, 50*time.Millisecond, "every event delivered and every notification settled") {
		a, h, ai, hi := recv.stats()
		t.Fatalf("delivered %d; analyses %d; notifications %+v; receiver: %d accepted (%d items), %d held (%d items)",
			unique, final.Counts.AnalysesCompleted, final.Notify.status(), a, ai, h, hi)
	}

	// No message and no item twice.
	recv.mu.Lock()
	ids, keys := map[string]int{}, map[string]int{}
	for _, m := range recv.msgs {
		ids[m.id]++
		for _, k := range m.keys {
			keys[k]++
		}
	}
	recv.mu.Unlock()
	for id, n := range ids {
		assert.Equal(t, 1, n, "message %s received once", id)
	}
	for k, n := range keys {
		assert.Equal(t, 1, n, "item %s listed once", k)
	}

	// Every notified outcome counted once: what the receiver accepted is
	// sent or grouped, what was in flight at the kill is interrupted.
	accepted, _, acceptedItems, heldItems := recv.stats()
	got := final.Notify.status()
	require.Len(t, got, 1)
	n := got[0]
	assert.Equal(t, string(policy.DestinationWebhook), n.Kind)
	assert.Equal(t, int64(total), n.Ended(), "the notification outcomes add up to the notified outcomes: %+v", n)
	assert.Equal(t, acceptedItems, n.Sent+n.Grouped, "sent and grouped are the items of the accepted messages")
	assert.Equal(t, heldItems, n.Interrupted, "interrupted are the items of the messages in flight at the kill")
	assert.Zero(t, n.Pending)
	t.Logf("%d messages accepted, %d in flight at the kill; %d items owed at the kill; final %+v", accepted, held, owedAtKill, n)

	// The status shows the checkpoint's account.
	require.Eventually(t, func() bool {
		var p v1alpha1.RemediationPolicy
		return c.Get(context.Background(), client.ObjectKeyFromObject(f.policy), &p) == nil &&
			assert.ObjectsAreEqual(got, p.Status.NotificationCounts)
	}, 30*time.Second, 20*time.Millisecond, "status.notificationCounts is the checkpoint's")
	left, err := (&state.Store{Namespace: "dot-ai", Reader: c, Writer: c}).Notifications(context.Background())
	require.NoError(t, err)
	assert.Empty(t, left, "the settled intents are deleted")
}
