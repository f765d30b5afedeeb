package text

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestTruncate(t *testing.T) {
	bytes := func(s string) int { return len(s) }
	runes := utf8.RuneCountInString
	tests := []struct {
		name string
		cut  func(string, int) string
		size func(string) int // in the unit the bound counts
		in   string
		max  int
		want string
	}{
		{"bytes: short enough", Truncate, bytes, "abc", 3, "abc"},
		{"bytes: ASCII cut at the bound", Truncate, bytes, "abcdef", 4, "abcd"},
		{"bytes: zero bound", Truncate, bytes, "abc", 0, ""},
		{"bytes: 2-byte rune across the bound is dropped whole", Truncate, bytes, "aé", 2, "a"},
		{"bytes: 3-byte rune across the bound is dropped whole", Truncate, bytes, "ab€", 4, "ab"},
		{"bytes: 4-byte rune across the bound is dropped whole", Truncate, bytes, "a😀", 4, "a"},
		{"bytes: rune ending at the bound is kept", Truncate, bytes, "a€b", 4, "a€"},
		{"bytes: not UTF-8 at the bound, cut at the bound", Truncate, bytes, "ab\xff\xfe\xfd", 3, "ab\xff"},

		{"runes: short enough", TruncateRunes, runes, "héllo", 5, "héllo"},
		{"runes: cut ends in an ellipsis", TruncateRunes, runes, "abcdef", 4, "abc…"},
		{"runes: multi-byte runes count once", TruncateRunes, runes, strings.Repeat("é", 6), 4, "ééé…"},
		{"runes: astral runes count once", TruncateRunes, runes, "😀😀😀😀😀", 3, "😀😀…"},
		{"runes: invalid bytes are replaced", TruncateRunes, runes, "a\xffb", 5, "a\uFFFDb"},

		{"UTF-16: short enough", TruncateUTF16, UTF16Len, "a😀b", 4, "a😀b"},
		{"UTF-16: cut ends in an ellipsis", TruncateUTF16, UTF16Len, "abcdef", 4, "abc…"},
		{"UTF-16: a surrogate pair is never split", TruncateUTF16, UTF16Len, "ab😀cd", 4, "ab…"},
		{"UTF-16: a pair that fits is kept", TruncateUTF16, UTF16Len, "a😀bcd", 4, "a😀…"},
		{"UTF-16: BMP multi-byte runes count once", TruncateUTF16, UTF16Len, strings.Repeat("€", 6), 3, "€€…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cut(tc.in, tc.max)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, tc.size(got), tc.max)
			if utf8.ValidString(tc.in) {
				assert.True(t, utf8.ValidString(got), "a valid string stays valid")
			}
		})
	}
}

func TestUTF16Len(t *testing.T) {
	assert.Equal(t, 0, UTF16Len(""))
	assert.Equal(t, 3, UTF16Len("abc"))
	assert.Equal(t, 1, UTF16Len("é"))
	assert.Equal(t, 2, UTF16Len("😀"), "astral runes count as a surrogate pair")
	assert.Equal(t, 4, UTF16Len("a😀b"))
}
