// Package text shortens strings for bounded places (status fields, Event
// notes, cached messages, the remediate issue) without ever cutting a
// character in half. Each bound counts in the unit its reader counts: bytes
// for Go and etcd limits, runes for a CRD's maxLength (the apiserver counts
// characters), UTF-16 code units for dot-ai (JavaScript's String.length).
package text

import (
	"strings"
	"unicode/utf8"
)

// Ellipsis marks a cut where the reader should see that text is missing.
const Ellipsis = "…"

// Truncate returns s cut to at most maxBytes bytes, before the rune that
// crosses the bound rather than inside it. Where s is not UTF-8 at the bound
// it is cut at the bound.
func Truncate(s string, maxBytes int) string {
	if len(s) <= maxBytes {
		return s
	}
	if maxBytes <= 0 {
		return ""
	}
	i := maxBytes
	for i > 0 && i > maxBytes-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	if !utf8.RuneStart(s[i]) {
		i = maxBytes
	}
	return s[:i]
}

// TruncateRunes returns s as valid UTF-8 (invalid bytes become U+FFFD) of at
// most maxRunes runes, ending in Ellipsis when cut.
func TruncateRunes(s string, maxRunes int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	i, count := 0, 0
	for j := range s {
		if count == maxRunes-1 {
			i = j
			break
		}
		count++
	}
	return s[:i] + Ellipsis
}

// UTF16Len counts s in UTF-16 code units, as JavaScript's String.length.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16Units(r)
	}
	return n
}

// TruncateUTF16 returns s cut to at most maxUnits UTF-16 code units, ending
// in Ellipsis when cut; a surrogate pair is never split.
func TruncateUTF16(s string, maxUnits int) string {
	if UTF16Len(s) <= maxUnits {
		return s
	}
	n := 0
	for i, r := range s {
		w := utf16Units(r)
		if n+w > maxUnits-1 {
			return s[:i] + Ellipsis
		}
		n += w
	}
	return s
}

func utf16Units(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}
