package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/internal/policy"
)

// fileJournal keeps one file per intent, so a SIGKILLed process leaves its
// intents behind like the ControllerState journal does.
type fileJournal struct{ dir string }

func (j fileJournal) Begin(_ context.Context, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(j.dir, r.ID), b, 0o600)
}

func (j fileJournal) End(_ context.Context, id string) error {
	err := os.Remove(filepath.Join(j.dir, id))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

func (j fileJournal) Pending(context.Context) ([]Record, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(j.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Environment of the child process.
const (
	envChild   = "DOTAI_NOTIFY_CHILD"
	envURL     = "DOTAI_NOTIFY_URL"
	envJournal = "DOTAI_NOTIFY_JOURNAL"
	envItems   = "DOTAI_NOTIFY_ITEMS"
	envCounts  = "DOTAI_NOTIFY_COUNTS"
)

// TestRestartChild is the child process of TestSIGKILLRestart: it sends
// DOTAI_NOTIFY_ITEMS items (0: only recovers), waits until all have an
// outcome and writes its counts.
func TestRestartChild(t *testing.T) {
	if os.Getenv(envChild) == "" {
		t.Skip("child process of TestSIGKILLRestart")
	}
	url := os.Getenv(envURL)
	cfg := testConfig(strings.TrimSuffix(url, secretPath) + "/services/")
	cfg.MaxPerMinute = 10000
	cfg.Workers = 4
	n := New(cfg, secretReader(t, map[policy.DestinationKind]string{policy.DestinationWebhook: url}).Build(),
		Options{Journal: fileJournal{dir: os.Getenv(envJournal)}, RequestTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Start(ctx); close(done) }()
	items, _ := strconv.Atoi(os.Getenv(envItems))
	for i := range items {
		n.Notify(item(fmt.Sprint(i)), []policy.Destination{dest(policy.DestinationWebhook)})
	}
	// Done when every item has an outcome and the intents an earlier
	// process left are counted (recovery removes them).
	j := fileJournal{dir: os.Getenv(envJournal)}
	require.Eventually(t, func() bool {
		c, pending := n.Counts()
		left, err := j.Pending(ctx)
		return err == nil && len(left) == 0 && pending == 0 && c[policy.DestinationWebhook].Sum() >= int64(items)
	}, time.Minute, 10*time.Millisecond)
	c, _ := n.Counts()
	b, err := json.Marshal(c[policy.DestinationWebhook])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(os.Getenv(envCounts), b, 0o600))
	cancel()
	<-done
}

// TestSIGKILLRestart: a child process is SIGKILLed while messages are in
// flight; the next process counts them as interrupted and sends none of them
// again. Items still queued in the killed process are beyond this test:
// in the controller the watcher's account owes them (OnEnded), which
// internal/watcher's TestNotificationsAfterSIGKILL checks.
func TestSIGKILLRestart(t *testing.T) {
	if os.Getenv(envChild) != "" {
		t.Skip("in the child")
	}
	const answered = 10
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]int{}
	st := newStub(t, func(w http.ResponseWriter, _ *http.Request, body []byte) {
		var e struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &e)
		mu.Lock()
		seen[e.ID]++
		n := len(seen)
		mu.Unlock()
		if n > answered {
			<-release // in flight until the child is killed
		}
		w.WriteHeader(http.StatusAccepted)
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal")
	require.NoError(t, os.Mkdir(journal, 0o700))
	child := func(items int, counts string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRestartChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envChild+"=1", envURL+"="+st.url(), envJournal+"="+journal,
			envItems+"="+strconv.Itoa(items), envCounts+"="+counts)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd
	}

	first := child(100, filepath.Join(dir, "first.json"))
	require.NoError(t, first.Start())
	require.Eventually(t, func() bool { return st.calls() >= answered+4 }, time.Minute, 5*time.Millisecond, "four sends in flight")
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	close(release)
	inFlight := st.calls() - answered

	pending, err := fileJournal{dir: journal}.Pending(t.Context())
	require.NoError(t, err)
	assert.Len(t, pending, inFlight, "every message in flight left its intent")

	second := child(0, filepath.Join(dir, "second.json"))
	require.NoError(t, second.Run())
	var c Counts
	b, err := os.ReadFile(filepath.Join(dir, "second.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &c))
	assert.Equal(t, Counts{Interrupted: int64(inFlight)}, c, "the restarted process counts the in-flight messages as interrupted")
	pending, err = fileJournal{dir: journal}.Pending(t.Context())
	require.NoError(t, err)
	assert.Empty(t, pending)
	assert.Equal(t, answered+inFlight, st.calls(), "nothing is sent again")
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		assert.Equal(t, 1, n, "message %s sent once", id)
	}
}
