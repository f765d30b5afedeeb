package watcher

import (
	"bufio"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
)

// Caps of a checkpoint, which keep its object within the byte budget of
// docs/design/state.md (checkpoint_test.go measures it at the caps).
const (
	maxHandledEntries = 8000 // ≤ 59 bytes each: ≤ 472 KB
	maxCooldowns      = 2000 // 47 bytes each: ≤ 94 KB
)

// checkpoint is what survives a restart for one policy. The outcome counters
// and recent outcomes live here, next to the marks of handled occurrences,
// so one write records both (decision 18 (docs/design/decisions.md#d18));
// the policy's status is copied from the last saved checkpoint.
type checkpoint struct {
	// Since: events whose last occurrence is before Since are not this
	// policy's (created or resumed later).
	Since time.Time
	// Watermark: handled entries up to this event time were pruned; such
	// events count as handled.
	Watermark time.Time
	// Suspended is the policy's suspend flag as last seen, so a resume
	// while the controller was down still moves Since.
	Suspended bool
	Handled   handledMarks
	Cooldowns cooldowns
	Bucket    tokenBucket
	// Recurrence is the window state of recurrence thresholds.
	Recurrence recurrence

	Counts        v1alpha1.OutcomeCounts
	Recent        []v1alpha1.RemediationOutcome
	LastProcessed time.Time
	// Notify is the notification account: items owed and their outcomes
	// (notifyledger.go).
	Notify notifyLedger
}

func newCheckpoint(since time.Time) *checkpoint {
	return &checkpoint{Since: since, Handled: newHandledMarks(), Cooldowns: cooldowns{}, Recurrence: recurrence{}}
}

// isHandled reports whether occurrence count of event uid (last occurring at
// t) already reached an outcome.
func (c *checkpoint) isHandled(uid types.UID, count int32, t time.Time) bool {
	if m, ok := c.Handled.get(uid); ok {
		return m.count >= count
	}
	return !c.Watermark.IsZero() && !t.After(c.Watermark)
}

func (c *checkpoint) markHandled(uid types.UID, count int32, t time.Time) {
	m, _ := c.Handled.get(uid)
	m.count = max(m.count, count)
	m.nanos = max(m.nanos, t.UnixNano())
	c.Handled.set(uid, m)
}

// record counts one outcome (and keeps it among the recent ones when out is
// set).
func (c *checkpoint) record(oc outcome, out *v1alpha1.RemediationOutcome, now time.Time) {
	*oc.spec().counter(&c.Counts)++
	c.Counts.TotalEventsProcessed++
	c.LastProcessed = now
	if out != nil {
		c.Recent = append([]v1alpha1.RemediationOutcome{*out}, c.Recent...)
		if len(c.Recent) > v1alpha1.MaxRecentOutcomes {
			c.Recent = c.Recent[:v1alpha1.MaxRecentOutcomes]
		}
	}
}

// prune drops entries of events that no longer exist (exists == nil keeps
// them) and, above maxHandledEntries, the oldest ones, raising Watermark.
func (c *checkpoint) prune(now time.Time, exists eventLookup) {
	if exists != nil {
		c.Handled.keepExisting(exists)
	}
	if w := c.Handled.dropOldest(maxHandledEntries); w.After(c.Watermark) {
		c.Watermark = w
	}
	c.Cooldowns.prune(now, maxCooldowns)
	c.Recurrence.prune(now)
}

// state is the checkpoint in its stored form.
func (c *checkpoint) state() *v1alpha1.CheckpointState {
	var cd strings.Builder
	keys := make([]string, 0, len(c.Cooldowns))
	for k := range c.Cooldowns {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&cd, "%d %s\n", c.Cooldowns[k].UnixMilli(), k)
	}
	s := &v1alpha1.CheckpointState{
		Since:          new(metav1.NewTime(c.Since.UTC())),
		Suspended:      c.Suspended,
		Handled:        c.Handled.encode(),
		Cooldowns:      cd.String(),
		Recurrence:     c.Recurrence.encode(),
		Bucket:         c.Bucket.state(),
		Counts:         c.Counts,
		RecentOutcomes: slices.Clone(c.Recent),
		Notifications:  c.Notify.state(),
	}
	if !c.Watermark.IsZero() {
		s.Watermark = new(metav1.NewTime(c.Watermark.UTC()))
	}
	if !c.LastProcessed.IsZero() {
		s.LastProcessedEvent = new(metav1.NewTime(c.LastProcessed.UTC()))
	}
	return s
}

// checkpointFromState reads the stored form. Lines it cannot parse are
// skipped: at worst one event is delivered again, never lost.
func checkpointFromState(s *v1alpha1.CheckpointState) *checkpoint {
	var since time.Time
	if s.Since != nil {
		since = s.Since.Time
	}
	c := newCheckpoint(since)
	if s.Watermark != nil {
		c.Watermark = s.Watermark.Time
	}
	c.Suspended = s.Suspended
	parseHandled(c, s.Handled)
	parseCooldowns(c, s.Cooldowns, func(key string) string { return key })
	c.Bucket = bucketFromState(s.Bucket)
	c.Recurrence = decodeRecurrence(s.Recurrence)
	c.Counts = s.Counts
	c.Recent = slices.Clone(s.RecentOutcomes)
	if s.LastProcessedEvent != nil {
		c.LastProcessed = s.LastProcessedEvent.Time
	}
	c.Notify = ledgerFromState(&s.Notifications)
	return c
}

func parseHandled(c *checkpoint, data string) {
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		n, err1 := strconv.ParseInt(f[1], 10, 32)
		ts, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		c.Handled.set(types.UID(f[0]), handledMark{count: int32(n), nanos: time.Unix(ts, 0).UnixNano()})
	}
}

// parseCooldowns reads "<unix milliseconds> <key>" lines into c, the key
// stored as key(…) gives it; unparsable lines are skipped.
func parseCooldowns(c *checkpoint, data string, key func(string) string) {
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		ms, k, ok := strings.Cut(sc.Text(), " ")
		if v, err := strconv.ParseInt(ms, 10, 64); ok && err == nil {
			c.Cooldowns[key(k)] = time.UnixMilli(v)
		}
	}
}

// checkpointFromLegacy migrates a checkpoint ConfigMap of the first format.
// That format kept no counters: they are taken from the policy's status,
// which that controller wrote (docs/upgrading.md).
func checkpointFromLegacy(data map[string]string, st *v1alpha1.RemediationPolicyStatus) (*checkpoint, error) {
	c := newCheckpoint(time.Time{})
	var err error
	if v := data["since"]; v != "" {
		if c.Since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return nil, fmt.Errorf("since: %w", err)
		}
	}
	if v := data["watermark"]; v != "" {
		if c.Watermark, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return nil, fmt.Errorf("watermark: %w", err)
		}
	}
	c.Suspended = data["suspended"] == "true"
	parseHandled(c, data["handled"])
	parseCooldowns(c, data["cooldowns"], hashCooldownKey) // the first format kept raw keys
	if v := data["bucket"]; v != "" {
		var b struct {
			Tokens float64   `json:"tokens"`
			Last   time.Time `json:"last"`
		}
		if err := json.Unmarshal([]byte(v), &b); err != nil {
			return nil, fmt.Errorf("bucket: %w", err)
		}
		c.Bucket = tokenBucket{Tokens: b.Tokens, Last: b.Last}
	}
	c.Counts = st.OutcomeCounts
	c.Recent = slices.Clone(st.RecentOutcomes)
	if st.LastProcessedEvent != nil {
		c.LastProcessed = st.LastProcessedEvent.Time
	}
	return c, nil
}
