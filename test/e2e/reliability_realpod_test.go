//go:build e2e && reliability

package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
)

// TestReliabilityRealPod runs the kill scenario against the chart's own pod
// on the real node: the controller is a real container (the image of `make
// node-image`), SIGKILLed on the host and restarted by the kubelet, never by
// the harness (issue 16, item 6). `make reliability-short` runs it after
// TestReliability (-run TestReliability matches both).
func TestReliabilityRealPod(t *testing.T) {
	if os.Getenv("E2E_EXTERNAL_CONTROLLER") == "1" {
		t.Skip("the real node is the local cluster's")
	}
	sc := reliabilityScale(t)
	s := setupWith(t, true, reliabilityHelm...)
	r := newRel(t, s, sc)
	t.Run("controller killed on the real node", r.testKillsRealPod)
}

// podEpoch is one killed container's part of the stream.
type podEpoch struct {
	killEpoch
	// restarted: kill to the kubelet's new container; leading: kill to the
	// new container holding the leader Lease.
	restarted, leading time.Duration
	err                error
}

// testKillsRealPod: testKills with the kubelet in the harness's place. The
// container's process is SIGKILLed at random moments of a stream of
// matching events; events keep arriving while it is down. Every event must
// reach the MCP stub, an event is sent once more exactly for each killed
// container that had sent it without its outcome in the checkpoint it left
// (decision 4 (docs/design/decisions.md#d4)), and the counters are exact.
//
// A killed container's epoch ends when the kubelet reports its successor,
// which cannot send before it holds the Lease (the killed holder's lease
// must expire first): the test checks the Lease still names the killed
// holder after it read the stub's requests and the checkpoint, so every
// request up to then is the killed container's.
func (r *rel) testKillsRealPod(t *testing.T) {
	pod := r.controllerPod(t)
	require.Equal(t, realNodeName, pod.Spec.NodeName, "the controller runs on the real node")
	first := r.controllerContainer(t)
	require.Truef(t, strings.HasPrefix(first.id, "containerd://"), "a real container: %q", first.id)

	ns := r.namespace(t, "realkill")
	pods := r.pods(t, ns, 50)
	p := r.policy(t, ns, "kills", unlimited)
	r.awaitReady(t, p)
	uid := r.getPolicy(t, p).UID
	// Slow answers keep deliveries in flight at the kills.
	r.stub.SetLatency(20 * time.Millisecond)
	defer r.stub.SetLatency(0)

	n, perSecond := r.sc.realKillEvents, r.sc.realKillRate
	kills := killAt(n, r.sc.realKills, int(2*perSecond))
	// epochStart indexes stubRequests() where the running container's
	// requests begin; only the epoch goroutine moves it, between a kill and
	// the next.
	epochStart := len(r.stubRequests())
	var epochs []*podEpoch
	var done chan struct{} // closed when the last kill's epoch is closed
	var killed []string
	start := time.Now()
	names := r.stream(t, pods, "realkill", n, perSecond, func(i int) {
		if !slices.Contains(kills, i) {
			return
		}
		if done != nil { // the previous successor leads before the next kill
			r.awaitEpoch(t, done, epochs[len(epochs)-1])
		}
		holder := r.leaseHolder(t.Context())
		require.NotEmpty(t, holder, "a leader before kill %d", len(epochs)+1)
		cur := r.controllerContainer(t)
		require.NoError(t, killContainer(cur.id), "SIGKILL of the controller's container process")
		killedAt := time.Now()
		e := &podEpoch{}
		epochs = append(epochs, e)
		killed = append(killed, fmt.Sprintf("#%d", i))
		done = make(chan struct{})
		go func(done chan struct{}) {
			defer close(done)
			e.err = r.closeEpoch(t.Context(), e, ns, uid, cur.id, holder, killedAt, &epochStart)
		}(done)
	})
	if done != nil {
		r.awaitEpoch(t, done, epochs[len(epochs)-1])
	}
	r.awaitAllDelivered(t, ns, names, 5*time.Minute)

	left := make([]killEpoch, len(epochs))
	for i, e := range epochs {
		left[i] = e.killEpoch
	}
	unsaved, dups := r.assertResends(t, ns, names, left)
	assert.Equal(t, unsaved, dups)
	r.assertExactCounters(t, p, len(names))

	// The kubelet restarted the same pod's container once per kill.
	after := r.controllerPod(t)
	assert.Equal(t, pod.UID, after.UID, "the same pod: the kubelet restarted its container, nothing replaced the pod")
	last := r.controllerContainer(t)
	assert.Equal(t, first.restarts+int32(len(epochs)), last.restarts, "one container restart per kill; the last container before this one ended with %s", last.lastExit)
	var restarts, leads []string
	for _, e := range epochs {
		restarts = append(restarts, fmt.Sprintf("%.1fs", e.restarted.Seconds()))
		leads = append(leads, fmt.Sprintf("%.1fs", e.leading.Seconds()))
	}
	r.figure(t, "%d events, %d SIGKILLs of the controller's container on the real node (before events %v; the kubelet restarted it after %s, the new container led after %s): 0 lost, %d duplicates, exactly the %d occurrences the killed containers had sent without a saved outcome, all delivered %.0fs after the stream began",
		n, len(epochs), killed, strings.Join(restarts, ", "), strings.Join(leads, ", "), dups, unsaved, time.Since(start).Seconds())
}

// awaitEpoch waits for a kill's epoch to close and fails on its error.
func (r *rel) awaitEpoch(t *testing.T, done chan struct{}, e *podEpoch) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the kubelet did not restart the killed controller container within 3m; %s", r.controllerLog())
	}
	require.NoError(t, e.err)
}

// closeEpoch waits for the kubelet's new container, then records what the
// killed one sent (stub requests since *epochStart) and left handled in its
// checkpoint, checks the Lease still names the killed holder (so nothing
// recorded can come from the successor), and waits until the successor
// leads.
func (r *rel) closeEpoch(ctx context.Context, e *podEpoch, ns string, uid types.UID, killedID, holder string, killedAt time.Time, epochStart *int) error {
	if !waitUntil(ctx, 3*time.Minute, func() bool {
		c, err := r.containerNow(ctx)
		return err == nil && c.id != "" && c.id != killedID
	}) {
		return fmt.Errorf("no new container after the kill of %s", killedID)
	}
	e.restarted = time.Since(killedAt)
	reqs := r.stubRequests()
	e.sent = map[string]bool{}
	for _, q := range reqs[*epochStart:] {
		if q.eventNamespace == ns {
			e.sent[q.eventName] = true
		}
	}
	*epochStart = len(reqs)
	handled, err := r.loadHandled(ctx, uid)
	if err != nil {
		return err
	}
	e.handled = handled
	if e.answered, err = r.loadAnswered(ctx, ns); err != nil {
		return err
	}
	if h := r.leaseHolder(ctx); h != holder {
		return fmt.Errorf("the new container led (%q) before its predecessor's requests were counted: the epoch boundary is unsound", h)
	}
	if !waitUntil(ctx, 2*time.Minute, func() bool {
		h := r.leaseHolder(ctx)
		return h != "" && h != holder
	}) {
		return fmt.Errorf("the restarted container never took the leader Lease from %s", holder)
	}
	e.leading = time.Since(killedAt)
	return nil
}
