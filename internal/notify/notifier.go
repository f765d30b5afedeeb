package notify

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/endpoint"
	"dot-ai.io/controller/internal/policy"
)

// Clock is the notifier's time source (a fake one in tests).
type Clock interface {
	clock.Clock
	clock.WithDelayedExecution
}

// StatusFunc is told how each message to a destination ended: ok, or a
// permanent failure with its reason and a message naming the destination
// kind and Secret, never the URL.
type StatusFunc func(p types.NamespacedName, kind policy.DestinationKind, ok bool, reason, message string)

// EndedFunc is told that a policy's items (by their Seq; 0 for an item not
// accounted) reached outcome o. messageID, when set, names the message
// whose intent the account deletes once it has saved the outcome: until
// then a restart must find the intent, or it would send the items again.
type EndedFunc func(p types.NamespacedName, uid types.UID, kind policy.DestinationKind, o Outcome, seqs []uint64, messageID string)

// Options tune the notifier; zero fields take defaults.
type Options struct {
	Clock Clock
	// HTTPClient sends the messages; default a client with TLS verification
	// and no redirects followed (a redirect could lead the URL's secret path
	// elsewhere).
	HTTPClient *http.Client
	// MaxAttempts per message (5), Backoff the first wait between them (1s,
	// doubling), MaxRetryWait the longest wait, also for a Retry-After (2m).
	MaxAttempts  int
	Backoff      time.Duration
	MaxRetryWait time.Duration
	// RequestTimeout bounds one POST (10s).
	RequestTimeout time.Duration
	// DrainTimeout is how long a stop waits for messages being sent (10s).
	DrainTimeout time.Duration
	// Journal persists message intents; nil keeps none.
	Journal Journal
	// OnStatus is told each message's result; nil ignores them.
	OnStatus StatusFunc
	// OnEnded, when set, is the items' account (the watcher's checkpoint):
	// it is told every outcome, deletes the intents of messages once their
	// outcomes are saved, and settles the intents an earlier process left,
	// so Start leaves them alone.
	OnEnded EndedFunc
	Log     logr.Logger

	// observeWait, in tests, sees each wait before a retry.
	observeWait func(time.Duration)
}

// Notifier groups, caps and sends notifications. Notify never blocks; Start
// runs the dispatcher and workers until its context ends.
type Notifier struct {
	cfg       config.Notifications
	opts      Options
	secrets   client.Reader
	allowList endpoint.AllowList
	http      *http.Client
	clock     Clock
	log       logr.Logger

	in      chan *entry // pointers: a buffer of entries by value took 768 KB at start
	flushes chan groupKey
	send    chan *outgoing
	done    chan struct{} // closed when the dispatcher stops

	stopMu  sync.Mutex
	stopped bool // Start has returned from dispatching

	mu      sync.Mutex
	counts  map[policy.DestinationKind]*Counts
	pending int64
	groups  map[groupKey]*group
	sentAt  map[groupKey][]time.Time
}

// maxBacklog is the least number of messages that may wait for a worker.
const maxBacklog = 256

type entry struct {
	item Item
	dest policy.Destination
}

// groupKey is one policy's one destination.
type groupKey struct {
	policy types.NamespacedName
	uid    types.UID
	kind   policy.DestinationKind
}

type group struct {
	dest  policy.Destination
	items []Item
	more  int
	// moreSeqs are the Seqs of the items counted, not listed.
	moreSeqs []uint64
}

type outgoing struct {
	msg      Message
	dest     policy.Destination
	moreSeqs []uint64
}

// New returns a notifier reading webhook URLs through secrets, which must
// be an uncached reader (RBAC grants get on Secrets, never list or watch).
func New(cfg config.Notifications, secrets client.Reader, opts Options) *Notifier {
	registerMetrics()
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	opts.MaxAttempts = max(opts.MaxAttempts, 0)
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = 2 * time.Minute
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	cfg.QueueSize = max(cfg.QueueSize, 1)
	cfg.Workers = max(cfg.Workers, 1)
	cfg.MaxPerMinute = max(cfg.MaxPerMinute, 1)
	cfg.MaxGroupItems = max(cfg.MaxGroupItems, 1)
	return &Notifier{
		cfg:       cfg,
		opts:      opts,
		secrets:   secrets,
		allowList: cfg.AllowList(),
		http:      opts.HTTPClient,
		clock:     opts.Clock,
		log:       opts.Log,
		in:        make(chan *entry, cfg.QueueSize),
		flushes:   make(chan groupKey, 64),
		send:      make(chan *outgoing, max(cfg.Workers*16, maxBacklog)),
		done:      make(chan struct{}),
		counts:    map[policy.DestinationKind]*Counts{},
		groups:    map[groupKey]*group{},
		sentAt:    map[groupKey][]time.Time{},
	}
}

// Notify hands over one item for the destinations that want it (all of
// dests for an accounted item). It never blocks: when the queue is full the
// item is counted as dropped.
func (n *Notifier) Notify(it Item, dests []policy.Destination) {
	for _, d := range dests {
		// An accounted item was filtered when its account took it; after a
		// restart it may carry too little to filter again.
		if it.Seq == 0 && !Wants(d, &it) {
			continue
		}
		n.mu.Lock()
		n.pending++
		n.mu.Unlock()
		metricOpenItems.Inc()
		// stopMu orders this against Start's final drain of the queue.
		n.stopMu.Lock()
		stopped := n.stopped
		queued := false
		if !stopped {
			metricQueueDepth.Inc() // before the dispatcher can take it and Dec
			select {
			case n.in <- &entry{item: it, dest: d}:
				queued = true
			default:
				metricQueueDepth.Dec()
			}
		}
		n.stopMu.Unlock()
		switch {
		case stopped:
			n.end(&it, d.Kind, Interrupted)
		case !queued:
			n.end(&it, d.Kind, DroppedQueueFull)
		}
	}
}

// end records one item's outcome.
func (n *Notifier) end(it *Item, kind policy.DestinationKind, o Outcome) {
	n.count(kind, o, 1)
	n.tell(it.Policy, it.PolicyUID, kind, o, []uint64{it.Seq}, "")
}

// endMessage records the outcome of a message's items: the listed ones
// Sent when o is Sent (the counted ones Grouped), all of them o otherwise.
func (n *Notifier) endMessage(m *Message, moreSeqs []uint64, o Outcome, messageID string) {
	listed := make([]uint64, len(m.Items))
	for i := range m.Items {
		listed[i] = m.Items[i].Seq
	}
	if o == Sent {
		n.count(m.Kind, Sent, len(listed))
		n.count(m.Kind, Grouped, m.More)
		n.tell(m.Policy, m.PolicyUID, m.Kind, Grouped, moreSeqs, "")
		n.tell(m.Policy, m.PolicyUID, m.Kind, Sent, listed, messageID)
		return
	}
	n.count(m.Kind, o, m.Total())
	n.tell(m.Policy, m.PolicyUID, m.Kind, o, append(listed, moreSeqs...), messageID)
}

func (n *Notifier) tell(p types.NamespacedName, uid types.UID, kind policy.DestinationKind, o Outcome, seqs []uint64, messageID string) {
	if n.opts.OnEnded != nil && (len(seqs) > 0 || messageID != "") {
		n.opts.OnEnded(p, uid, kind, o, seqs, messageID)
	}
}

// count records k items' outcome.
func (n *Notifier) count(kind policy.DestinationKind, o Outcome, k int) {
	if k == 0 {
		return
	}
	n.mu.Lock()
	c := n.counts[kind]
	if c == nil {
		c = &Counts{}
		n.counts[kind] = c
	}
	c[o] += int64(k)
	n.pending -= int64(k)
	n.mu.Unlock()
	metricOpenItems.Sub(float64(k))
	metricItems.WithLabelValues(string(kind), o.String()).Add(float64(k))
}

// Counts returns the outcome counters per destination kind and the items
// still without an outcome.
func (n *Notifier) Counts() (map[policy.DestinationKind]Counts, int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[policy.DestinationKind]Counts, len(n.counts))
	for k, c := range n.counts {
		out[k] = *c
	}
	return out, n.pending
}

// NeedLeaderElection is true: only the leader records outcomes, so only
// it notifies.
func (n *Notifier) NeedLeaderElection() bool { return true }

// Start counts the intents an earlier process left as interrupted, then
// groups and sends until ctx ends; then it flushes the open groups and
// gives the sends DrainTimeout to finish.
func (n *Notifier) Start(ctx context.Context) error {
	n.recover(ctx)
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	var wg sync.WaitGroup
	for range n.cfg.Workers {
		wg.Go(func() {
			for o := range n.send {
				n.deliver(sendCtx, o)
			}
		})
	}
	n.dispatch(ctx)
	close(n.done)
	// From now on Notify counts items as interrupted at once; what is still
	// queued is counted so too (outcomes recorded while the watcher drains).
	n.stopMu.Lock()
	n.stopped = true
	n.stopMu.Unlock()
	for {
		select {
		case e := <-n.in:
			metricQueueDepth.Dec()
			n.end(&e.item, e.dest.Kind, Interrupted)
			continue
		default:
		}
		break
	}
	close(n.send)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-n.clock.After(n.opts.DrainTimeout):
		cancelSends()
		<-done
	}
	return nil
}

// dispatch groups queued items until ctx ends, then flushes every group.
func (n *Notifier) dispatch(ctx context.Context) {
	for {
		select {
		case e := <-n.in:
			metricQueueDepth.Dec()
			n.add(e)
		case k := <-n.flushes:
			n.flush(k)
		case <-ctx.Done():
			for {
				select {
				case e := <-n.in:
					metricQueueDepth.Dec()
					n.add(e)
					continue
				default:
				}
				break
			}
			for k := range n.groups {
				n.flush(k)
			}
			return
		}
	}
}

func (n *Notifier) add(e *entry) {
	k := groupKey{policy: e.item.Policy, uid: e.item.PolicyUID, kind: e.dest.Kind}
	g := n.groups[k]
	if g == nil {
		g = &group{dest: e.dest}
		n.groups[k] = g
		if n.cfg.GroupWindow > 0 {
			n.clock.AfterFunc(n.cfg.GroupWindow, func() {
				select {
				case n.flushes <- k:
				case <-n.done:
				}
			})
		}
	}
	if len(g.items) < n.cfg.MaxGroupItems {
		g.items = append(g.items, e.item)
	} else {
		g.more++
		if e.item.Seq != 0 {
			g.moreSeqs = append(g.moreSeqs, e.item.Seq)
		}
	}
	if n.cfg.GroupWindow <= 0 {
		n.flush(k)
	}
}

// flush ends k's window: the group becomes one message, unless the
// destination had its messages for the minute.
func (n *Notifier) flush(k groupKey) {
	g := n.groups[k]
	if g == nil {
		return
	}
	delete(n.groups, k)
	now := n.clock.Now()
	sent := n.sentAt[k]
	for len(sent) > 0 && now.Sub(sent[0]) >= time.Minute {
		sent = sent[1:]
	}
	m := Message{Policy: k.policy, PolicyUID: k.uid, Kind: k.kind, Items: g.items, More: g.more}
	if len(sent) >= n.cfg.MaxPerMinute {
		n.sentAt[k] = sent
		n.endMessage(&m, g.moreSeqs, DroppedRateLimited, "")
		return
	}
	n.sentAt[k] = append(sent, now)
	// History of destinations quiet for a minute (deleted policies too) goes.
	for other, times := range n.sentAt {
		if now.Sub(times[len(times)-1]) >= time.Minute {
			delete(n.sentAt, other)
		}
	}
	m.ID = messageID(&m)
	select {
	case n.send <- &outgoing{msg: m, dest: g.dest, moreSeqs: g.moreSeqs}:
	default:
		// Every worker is busy and the backlog is full (destinations
		// retrying): drop rather than hold up grouping.
		n.endMessage(&m, g.moreSeqs, DroppedQueueFull, "")
	}
}

// deliver sends one message and counts its items.
func (n *Notifier) deliver(ctx context.Context, o *outgoing) {
	m := &o.msg
	// The status goes first: once the items are counted, it is reported.
	fail := func(reason, msg, intent string) {
		metricMessages.WithLabelValues(string(m.Kind), "failed", reason).Inc()
		n.status(m, false, reason, msg)
		n.endMessage(m, o.moreSeqs, Failed, intent)
	}
	url, reason, err := n.destinationURL(ctx, m.Policy.Namespace, o.dest)
	if err != nil {
		fail(reason, err.Error(), "")
		return
	}
	body, contentType, err := render(m, n.clock.Now())
	if err != nil {
		fail(ReasonRender, "the message could not be rendered", "")
		return
	}
	intent := ""
	if n.opts.Journal != nil {
		r := Record{ID: m.ID, Policy: m.Policy, PolicyUID: m.PolicyUID, Kind: m.Kind, Items: m.Total()}
		r.FirstSeq, r.LastSeq = seqRange(m, o.moreSeqs)
		if err := n.opts.Journal.Begin(ctx, r); err != nil {
			// Not sent: without its intent a restart could not account
			// for it.
			fail("state_unwritable", "the message's intent could not be saved, so it was not sent", "")
			return
		}
		intent = m.ID
	}
	res := n.post(ctx, m.Kind, url, contentType, body)
	switch {
	case ctx.Err() != nil && !res.ok:
		n.endMessage(m, o.moreSeqs, Interrupted, intent)
	case res.ok:
		metricMessages.WithLabelValues(string(m.Kind), "sent", ReasonOK).Inc()
		n.status(m, true, ReasonOK, "")
		n.endMessage(m, o.moreSeqs, Sent, intent)
	default:
		fail(res.reason, "the "+string(m.Kind)+" destination refused the message: "+res.reason, intent)
	}
	// With an account, it deletes the intent once the outcome is saved.
	if intent != "" && n.opts.OnEnded == nil {
		if err := n.opts.Journal.End(context.WithoutCancel(ctx), m.ID); err != nil {
			n.log.Error(err, "Failed to remove a notification intent; a restart counts it as interrupted", "policy", m.Policy, "kind", m.Kind)
		}
	}
}

// seqRange is the lowest and highest Seq of a message's items (0, 0 when
// they are not accounted). A policy's items reach a destination in Seq
// order and each window takes the next ones, so no other item of the
// policy and destination that is still owed lies between them.
func seqRange(m *Message, moreSeqs []uint64) (first, last uint64) {
	for _, s := range moreSeqs {
		first, last = minSeq(first, s), max(last, s)
	}
	for i := range m.Items {
		if s := m.Items[i].Seq; s != 0 {
			first, last = minSeq(first, s), max(last, s)
		}
	}
	return first, last
}

func minSeq(a, b uint64) uint64 {
	if a == 0 {
		return b
	}
	return min(a, b)
}

func (n *Notifier) status(m *Message, ok bool, reason, msg string) {
	if !ok {
		n.log.Info("Notification failed", "policy", m.Policy, "kind", m.Kind, "reason", reason, "items", m.Total(), "detail", msg)
	}
	if n.opts.OnStatus != nil {
		n.opts.OnStatus(m.Policy, m.Kind, ok, reason, msg)
	}
}

// recover counts the messages whose intent an earlier process left: they
// may have been sent, so they are never sent again. With an account
// (OnEnded) the account settles them, policy by policy, with the items it
// owes.
func (n *Notifier) recover(ctx context.Context) {
	if n.opts.Journal == nil || n.opts.OnEnded != nil {
		return
	}
	recs, err := n.opts.Journal.Pending(ctx)
	if err != nil {
		n.log.Error(err, "Failed to read notification intents left by an earlier process")
		return
	}
	for _, r := range recs {
		n.mu.Lock()
		n.pending += int64(r.Items)
		n.mu.Unlock()
		metricOpenItems.Add(float64(r.Items))
		n.count(r.Kind, Interrupted, r.Items)
		if err := n.opts.Journal.End(ctx, r.ID); err != nil {
			n.log.Error(err, "Failed to remove a notification intent", "policy", r.Policy, "kind", r.Kind)
		}
	}
}
