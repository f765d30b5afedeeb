package watcher

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"dot-ai.io/controller/api/v1alpha1"
)

// Recurrence thresholds (minOccurrences within occurrenceWindowSeconds):
// occurrences of one problem are counted per policy, per cooldown object
// (owner-aware), reason and message, and only the one that reaches the
// threshold goes on to cooldown and rate limiting. The window state lives in
// the checkpoint, written with the marks of the occurrences it counted, so a
// restart neither resets nor double-counts it.

// maxRecurrenceKeys bounds the problems a checkpoint tracks; with at most
// MaxMinOccurrences-1 times each, ≤ 1000 × 141 bytes in the checkpoint.
const maxRecurrenceKeys = 1000

// recurrence holds, per problem (a hash), the times of its occurrences still
// within their window, oldest first.
type recurrence map[string][]time.Time

// recurrenceKey identifies a problem: the cooldown object, the reason and a
// hash of the message, hashed again to a fixed size.
func recurrenceKey(object, reason, message string) string {
	m := sha256.Sum256([]byte(message))
	sum := sha256.Sum256([]byte(object + "#" + reason + "#" + hex.EncodeToString(m[:8])))
	return hex.EncodeToString(sum[:16])
}

// observe counts an occurrence of problem key at t. It reports whether it
// reaches minimum within window (then the count starts over) and how many
// occurrences the window holds.
func (r recurrence) observe(key string, t time.Time, minimum int32, window time.Duration) (bool, int) {
	times := slices.DeleteFunc(r[key], func(x time.Time) bool { return !x.After(t.Add(-window)) })
	times = append(times, t)
	if len(times) >= int(minimum) {
		delete(r, key)
		return true, len(times)
	}
	if keep := int(v1alpha1.MaxMinOccurrences) - 1; len(times) > keep {
		times = times[len(times)-keep:]
	}
	r[key] = times
	return false, len(times)
}

// prune drops problems whose last occurrence is older than the longest
// window and, above maxRecurrenceKeys, those seen least recently.
func (r recurrence) prune(now time.Time) {
	horizon := now.Add(-v1alpha1.MaxOccurrenceWindowSeconds * time.Second)
	for k, times := range r {
		if len(times) == 0 || times[len(times)-1].Before(horizon) {
			delete(r, k)
		}
	}
	if len(r) <= maxRecurrenceKeys {
		return
	}
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return r[a][len(r[a])-1].Compare(r[b][len(r[b])-1]) })
	for _, k := range keys[:len(keys)-maxRecurrenceKeys] {
		delete(r, k)
	}
}

// encode writes "<key> <unix>,<unix>,…" lines, sorted by key.
func (r recurrence) encode() string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		for i, t := range r[k] {
			sep := ","
			if i == 0 {
				sep = " "
			}
			fmt.Fprintf(&b, "%s%d", sep, t.Unix())
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// decodeRecurrence reads encode's lines; what it cannot parse is dropped (a
// problem then counts from zero again).
func decodeRecurrence(data string) recurrence {
	r := recurrence{}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		key, list, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var times []time.Time
		for v := range strings.SplitSeq(list, ",") {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				times = append(times, time.Unix(n, 0))
			}
		}
		if len(times) > 0 {
			r[key] = times
		}
	}
	return r
}
