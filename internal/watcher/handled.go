package watcher

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// handledMark is the highest occurrence count of one event that reached an
// outcome, and the last time it occurred (Unix nanoseconds; stored in
// seconds).
type handledMark struct {
	count int32
	nanos int64
}

// handledMarks are a checkpoint's marks by event UID. A UID the apiserver
// generated (a lower-case UUID) is kept as its 16 bytes, so that map holds
// no pointers: the collector never scans it, no UID string is retained, and
// a mark takes half the memory it took with string keys and time.Time
// values (TestHandledMarksLiveBytes). Other UIDs keep their string.
type handledMarks struct {
	uuids  map[[16]byte]handledMark
	others map[types.UID]handledMark
}

func newHandledMarks() handledMarks {
	return handledMarks{uuids: map[[16]byte]handledMark{}, others: map[types.UID]handledMark{}}
}

func (h handledMarks) len() int { return len(h.uuids) + len(h.others) }

func (h handledMarks) get(uid types.UID) (handledMark, bool) {
	if k, ok := uuidKey(string(uid)); ok {
		m, found := h.uuids[k]
		return m, found
	}
	m, found := h.others[uid]
	return m, found
}

func (h handledMarks) set(uid types.UID, m handledMark) {
	if k, ok := uuidKey(string(uid)); ok {
		h.uuids[k] = m
		return
	}
	h.others[uid] = m
}

// eventLookup tells whether an Event still exists (the watcher's eventSet).
type eventLookup interface {
	has(uid types.UID) bool
	hasUUID(k [16]byte) bool
}

// keepExisting drops the marks of events lookup no longer holds.
func (h handledMarks) keepExisting(lookup eventLookup) {
	for k := range h.uuids {
		if !lookup.hasUUID(k) {
			delete(h.uuids, k)
		}
	}
	for uid := range h.others {
		if !lookup.has(uid) {
			delete(h.others, uid)
		}
	}
}

// dropOldest keeps the newest maxMarks marks and returns the latest time
// among those dropped (zero when none was).
func (h handledMarks) dropOldest(maxMarks int) time.Time {
	over := h.len() - maxMarks
	if over <= 0 {
		return time.Time{}
	}
	times := make([]int64, 0, h.len())
	for _, m := range h.uuids {
		times = append(times, m.nanos)
	}
	for _, m := range h.others {
		times = append(times, m.nanos)
	}
	slices.Sort(times)
	cut := times[over-1]
	ties := 0 // marks at the cut to drop too
	for _, t := range times[:over] {
		if t == cut {
			ties++
		}
	}
	drop := func(t int64) bool {
		if t < cut {
			return true
		}
		if t == cut && ties > 0 {
			ties--
			return true
		}
		return false
	}
	for k, m := range h.uuids {
		if drop(m.nanos) {
			delete(h.uuids, k)
		}
	}
	for uid, m := range h.others {
		if drop(m.nanos) {
			delete(h.others, uid)
		}
	}
	return time.Unix(0, cut)
}

// encode writes "<uid> <count> <unix>\n" lines, ordered by UID.
func (h handledMarks) encode() string {
	keys := make([][16]byte, 0, len(h.uuids))
	for k := range h.uuids {
		keys = append(keys, k)
	}
	// Byte order of a UUID is the order of its lower-case hex spelling.
	// bytes.Compare, unlike strings.Compare of converted arrays, allocates
	// nothing: that comparison was a quarter of the storm's allocations.
	slices.SortFunc(keys, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	others := make([]string, 0, len(h.others))
	for uid := range h.others {
		others = append(others, string(uid))
	}
	slices.Sort(others)
	// One allocation of the exact size: the builder's buffer becomes the
	// string (a per-line maximum overshot a typical line by 40%).
	var b strings.Builder
	b.Grow(h.encodedLen())
	var num [20]byte
	line := func(uid []byte, m handledMark) {
		b.Write(uid)
		b.WriteByte(' ')
		b.Write(strconv.AppendInt(num[:0], int64(m.count), 10))
		b.WriteByte(' ')
		b.Write(strconv.AppendInt(num[:0], time.Unix(0, m.nanos).Unix(), 10))
		b.WriteByte('\n')
	}
	var spelled [36]byte
	i, j := 0, 0
	for i < len(keys) || j < len(others) {
		if i < len(keys) {
			formatUUID(&spelled, keys[i])
		}
		if j == len(others) || (i < len(keys) && string(spelled[:]) < others[j]) {
			line(spelled[:], h.uuids[keys[i]])
			i++
			continue
		}
		line([]byte(others[j]), h.others[types.UID(others[j])])
		j++
	}
	return b.String()
}

// encodedLen is the length of encode's text.
func (h handledMarks) encodedLen() int {
	var num [20]byte
	line := func(uidLen int, m handledMark) int {
		return uidLen + 1 + len(strconv.AppendInt(num[:0], int64(m.count), 10)) + 1 +
			len(strconv.AppendInt(num[:0], time.Unix(0, m.nanos).Unix(), 10)) + 1
	}
	n := 0
	for _, m := range h.uuids {
		n += line(36, m)
	}
	for uid, m := range h.others {
		n += line(len(uid), m)
	}
	return n
}

// formatUUID spells k as uuidKey reads it: 8-4-4-4-12 lower-case hex.
func formatUUID(dst *[36]byte, k [16]byte) {
	hex.Encode(dst[0:8], k[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], k[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], k[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], k[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:36], k[10:16])
}
