package watcher

import (
	"bufio"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/notify"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/text"
)

// The notification account of a policy lives in its checkpoint, so that an
// item is owed in the same write as the outcome it reports, and a restart
// finds every item that has no counted outcome yet (decision 21 (docs/design/decisions.md#d21)
// (docs/design/decisions.md#d21), docs/notifications.md "Restarts").
const (
	// maxOwed bounds the owed items of a policy; beyond it new items are
	// counted as droppedQueueFull at once (a burst that large is grouped
	// into "and N more" anyway).
	maxOwed = 2000
	// maxOwedDetailed is how many owed items of each destination kind keep
	// what a message lists of them: the most a message lists (the chart's
	// notifications.maxGroupItems is at most 40). A restart hands these
	// over first, so its message lists them and counts the others.
	maxOwedDetailed = 40
	// Lengths the stored summary of an owed item is cut to.
	maxOwedObject = 160
	maxOwedReason = 64
)

// kindBits are the destination kinds an owed item still waits for.
type kindBits uint8

var destinationKinds = []policy.DestinationKind{policy.DestinationSlack, policy.DestinationGoogleChat, policy.DestinationWebhook}

func kindBit(k policy.DestinationKind) kindBits {
	if i := slices.Index(destinationKinds, k); i >= 0 {
		return 1 << i
	}
	return 0
}

// owedItem is one item handed (or about to be handed) to the notifier.
type owedItem struct {
	Seq   uint64
	Kinds kindBits
	// Item is the full item while this process holds it; after a restart,
	// the summary the checkpoint kept.
	Item notify.Item
	// handed: given to the notifier (only once its owing was saved).
	handed bool
	// recovered: read from a checkpoint an earlier process saved.
	recovered bool
}

// notifyLedger is one policy's notification account.
type notifyLedger struct {
	Next   uint64
	Owed   []owedItem // ascending Seq
	Counts map[policy.DestinationKind]*v1alpha1.NotificationCounts
}

// owe records a new item for kinds and returns its Seq, or 0 when the
// account is full.
func (l *notifyLedger) owe(it notify.Item, kinds kindBits) uint64 {
	if len(l.Owed) >= maxOwed {
		return 0
	}
	l.Next++
	it.Seq = l.Next
	l.Owed = append(l.Owed, owedItem{Seq: l.Next, Kinds: kinds, Item: it})
	return l.Next
}

// settle counts the items seqs that kind still waits for as o; it reports
// whether any was. An item counted before (or never owed) is not counted
// again: each ends in exactly one outcome per destination kind.
func (l *notifyLedger) settle(kind policy.DestinationKind, o notify.Outcome, seqs []uint64) bool {
	bit := kindBit(kind)
	changed := false
	for _, s := range seqs {
		i, ok := slices.BinarySearchFunc(l.Owed, s, func(e owedItem, s uint64) int { return cmpSeq(e.Seq, s) })
		if !ok || l.Owed[i].Kinds&bit == 0 {
			continue
		}
		l.Owed[i].Kinds &^= bit
		l.count(kind, o, 1)
		changed = true
	}
	if changed {
		l.Owed = slices.DeleteFunc(l.Owed, func(e owedItem) bool { return e.Kinds == 0 })
	}
	return changed
}

// settleRange counts as o every item of kind owed with a Seq in
// [first, last]: what a message whose intent a restart found reported.
func (l *notifyLedger) settleRange(kind policy.DestinationKind, o notify.Outcome, first, last uint64) int {
	var seqs []uint64
	for _, e := range l.Owed {
		if e.Seq >= first && e.Seq <= last && e.Kinds&kindBit(kind) != 0 {
			seqs = append(seqs, e.Seq)
		}
	}
	l.settle(kind, o, seqs)
	return len(seqs)
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// count adds k items of kind to outcome o.
func (l *notifyLedger) count(kind policy.DestinationKind, o notify.Outcome, k int64) {
	if l.Counts == nil {
		l.Counts = map[policy.DestinationKind]*v1alpha1.NotificationCounts{}
	}
	c := l.Counts[kind]
	if c == nil {
		c = &v1alpha1.NotificationCounts{Kind: string(kind)}
		l.Counts[kind] = c
	}
	switch o {
	case notify.Sent:
		c.Sent += k
	case notify.Grouped:
		c.Grouped += k
	case notify.DroppedQueueFull:
		c.DroppedQueueFull += k
	case notify.DroppedRateLimited:
		c.DroppedRateLimited += k
	case notify.Failed:
		c.Failed += k
	case notify.Interrupted:
		c.Interrupted += k
	}
}

// status is the account as the policy's status shows it: per kind, the
// counted outcomes and the items pending.
func (l *notifyLedger) status() []v1alpha1.NotificationCounts {
	var out []v1alpha1.NotificationCounts
	for _, k := range destinationKinds {
		c := v1alpha1.NotificationCounts{Kind: string(k)}
		if have := l.Counts[k]; have != nil {
			c = *have
		}
		for _, e := range l.Owed {
			if e.Kinds&kindBit(k) != 0 {
				c.Pending++
			}
		}
		if c != (v1alpha1.NotificationCounts{Kind: string(k)}) {
			out = append(out, c)
		}
	}
	return out
}

// state is the account in its stored form. The newest maxOwedDetailed
// items of each kind keep their details: the oldest ones are the likeliest
// to be in a message already, whose intent a restart finds.
func (l *notifyLedger) state() v1alpha1.NotificationLedgerState {
	var b strings.Builder
	detailed := make([]bool, len(l.Owed))
	perKind := map[policy.DestinationKind]int{}
	for i := len(l.Owed) - 1; i >= 0; i-- {
		for _, k := range destinationKinds {
			if l.Owed[i].Kinds&kindBit(k) != 0 && perKind[k] < maxOwedDetailed {
				perKind[k]++
				detailed[i] = true
			}
		}
	}
	for i, e := range l.Owed {
		fmt.Fprintf(&b, "%d %d", e.Seq, e.Kinds)
		if detailed[i] {
			it := &e.Item
			phase := "c"
			if it.Phase == notify.PhaseStart {
				phase = "s"
			}
			_, eventKey, _ := strings.Cut(it.Key, "/") // without the policy UID
			fmt.Fprintf(&b, " %s %s %d %s %s %s %s", phase, dash(string(it.Outcome.Result)), it.Outcome.Time.Unix(), dash(eventKey),
				dash(it.Namespace), dash(text.Truncate(it.Object, maxOwedObject)), text.Truncate(it.EventReason, maxOwedReason))
		}
		b.WriteByte('\n')
	}
	s := v1alpha1.NotificationLedgerState{NextSeq: int64(l.Next), Owed: b.String()} //nolint:gosec // far below 2^63
	for _, k := range destinationKinds {
		if c := l.Counts[k]; c != nil {
			s.Counts = append(s.Counts, *c)
		}
	}
	return s
}

func dash(s string) string {
	s = strings.Join(strings.Fields(s), "_")
	if s == "" {
		return "-"
	}
	return s
}

func undash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// ledgerFromState reads the stored form (own completes its items).
// Lines it cannot parse are skipped: their items stay uncounted, which the
// status shows as a sum short of what was handed over, never as a message
// sent twice.
func ledgerFromState(s *v1alpha1.NotificationLedgerState) notifyLedger {
	l := notifyLedger{Next: uint64(max(s.NextSeq, 0))}
	for i := range s.Counts {
		c := s.Counts[i]
		if k := policy.DestinationKind(c.Kind); kindBit(k) != 0 {
			c.Pending = 0
			if l.Counts == nil {
				l.Counts = map[policy.DestinationKind]*v1alpha1.NotificationCounts{}
			}
			l.Counts[k] = &c
		}
	}
	sc := bufio.NewScanner(strings.NewReader(s.Owed))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 9)
		if len(f) != 2 && len(f) != 9 {
			continue
		}
		seq, err1 := strconv.ParseUint(f[0], 10, 64)
		kinds, err2 := strconv.ParseUint(f[1], 10, 8)
		if err1 != nil || err2 != nil || seq == 0 || kinds == 0 {
			continue
		}
		it := notify.Item{Seq: seq, Phase: notify.PhaseComplete}
		if len(f) == 9 {
			if f[2] == "s" {
				it.Phase = notify.PhaseStart
			}
			it.Outcome.Result = v1alpha1.OutcomeResult(undash(f[3]))
			if ts, err := strconv.ParseInt(f[4], 10, 64); err == nil && ts > 0 {
				it.Outcome.Time = metav1.NewTime(time.Unix(ts, 0))
			}
			it.Key = undash(f[5]) // own adds the policy UID
			it.Namespace, it.Object, it.EventReason = undash(f[6]), undash(f[7]), f[8]
		}
		if len(l.Owed) > 0 && l.Owed[len(l.Owed)-1].Seq >= seq {
			continue // out of order: not ours
		}
		l.Owed = append(l.Owed, owedItem{Seq: seq, Kinds: kindBits(kinds), Item: it, recovered: true})
	}
	return l
}

// own completes the items read from the stored form with their policy.
func (l *notifyLedger) own(p types.NamespacedName, uid types.UID) {
	for i := range l.Owed {
		it := &l.Owed[i].Item
		if it.PolicyUID == "" {
			it.Policy, it.PolicyUID = p, uid
			if it.Key != "" {
				it.Key = string(uid) + "/" + it.Key
			}
		}
	}
}
