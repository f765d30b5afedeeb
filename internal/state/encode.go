package state

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"dot-ai.io/controller/api/v1alpha1"
)

// longListMin is the size from which a line list is encoded apart.
const longListMin = 4 << 10

// encode returns obj's JSON. A checkpoint's line lists (handled marks up to
// 480 KB, cooldowns, recurrence) and the Pod owners' list dominate its size;
// json.Marshal grows its pooled buffer by doubling and then copies it: a
// 480 KB checkpoint allocated 3.5 MB once the pool was emptied by a
// collection, and under a storm those buffers were an eighth of the live
// heap at its peak (docs/reliability.md). The lists are machine-written
// ASCII lines, so they are quoted straight into one buffer of the final
// size: json.Marshal encodes the rest with a random placeholder in each
// list's place, and each placeholder, found exactly once, is replaced by
// its list. A list with any other byte, or a placeholder not found exactly
// once, falls back to json.Marshal of the whole object.
func encode(obj *v1alpha1.ControllerState) ([]byte, error) {
	lists, quoted := longLists(obj)
	if len(lists) == 0 {
		return json.Marshal(obj)
	}
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return json.Marshal(obj)
	}
	originals := make([]string, len(lists))
	marks := make([][]byte, len(lists))
	for i, l := range lists {
		originals[i] = *l
		*l = fmt.Sprintf("dot-ai-list-%s-%d", hex.EncodeToString(nonce[:]), i)
		marks[i] = []byte(`"` + *l + `"`)
	}
	small, err := json.Marshal(obj)
	for i, l := range lists {
		*l = originals[i]
	}
	if err != nil {
		return nil, err
	}
	size := len(small)
	at := make([]int, len(lists))
	for i, m := range marks {
		if bytes.Count(small, m) != 1 {
			return json.Marshal(obj)
		}
		at[i] = bytes.Index(small, m)
		size += quoted[i] - len(m)
	}
	out := make([]byte, 0, size)
	prev := 0
	for _, i := range inOrder(at) {
		out = append(out, small[prev:at[i]]...)
		out = appendQuoted(out, originals[i])
		prev = at[i] + len(marks[i])
	}
	return append(out, small[prev:]...), nil
}

// longLists are obj's line lists worth encoding apart, long and plain,
// with their quoted lengths.
func longLists(obj *v1alpha1.ControllerState) (lists []*string, quoted []int) {
	var all []*string
	if cp := obj.Spec.Checkpoint; cp != nil {
		all = append(all, &cp.Handled, &cp.Cooldowns, &cp.Recurrence)
	}
	if po := obj.Spec.PodOwners; po != nil {
		all = append(all, &po.Pods)
	}
	for _, s := range all {
		if len(*s) < longListMin {
			continue
		}
		if n, ok := quotedLen(*s); ok {
			lists, quoted = append(lists, s), append(quoted, n)
		}
	}
	return lists, quoted
}

// quotedLen is the length of appendQuoted's output for s, in the same pass
// that checks s is plain: only printable ASCII and newlines, so that
// quoting it only escapes ", \ and newlines.
func quotedLen(s string) (int, bool) {
	n := len(s) + 2
	for i := range len(s) {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n':
			n++
		case c < 0x20 || c > 0x7e:
			return 0, false
		}
	}
	return n, true
}

// appendQuoted appends a plain s (quotedLen) as a JSON string.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := range len(s) {
		var esc string
		switch s[i] {
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, esc...)
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// inOrder returns the indexes of at sorted by their positions.
func inOrder(at []int) []int {
	idx := make([]int, len(at))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(at[a], at[b]) })
	return idx
}
