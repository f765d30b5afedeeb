package text

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short enough", "abc", 3, "abc"},
		{"ASCII cut at the bound", "abcdef", 4, "abcd"},
		{"zero bound", "abc", 0, ""},
		{"2-byte rune across the bound is dropped whole", "aé", 2, "a"},
		{"3-byte rune across the bound is dropped whole", "ab€", 4, "ab"},
		{"4-byte rune across the bound is dropped whole", "a😀", 4, "a"},
		{"rune ending at the bound is kept", "a€b", 4, "a€"},
		{"not UTF-8 at the bound: cut at the bound", "ab\xff\xfe\xfd", 3, "ab\xff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Truncate(tc.in, tc.max)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, len(got), max(tc.max, 0))
		})
	}
}

func TestTruncateRunes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short enough", "héllo", 5, "héllo"},
		{"cut ends in an ellipsis", "abcdef", 4, "abc…"},
		{"multi-byte runes count once", strings.Repeat("é", 6), 4, "ééé…"},
		{"astral runes count once", "😀😀😀😀😀", 3, "😀😀…"},
		{"invalid bytes are replaced", "a\xffb", 5, "a\uFFFDb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := TruncateRunes(tc.in, tc.max)
			assert.Equal(t, tc.want, got)
			assert.True(t, utf8.ValidString(got))
			assert.LessOrEqual(t, utf8.RuneCountInString(got), tc.max)
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

func TestTruncateUTF16(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short enough", "a😀b", 4, "a😀b"},
		{"cut ends in an ellipsis", "abcdef", 4, "abc…"},
		{"a surrogate pair is never split", "ab😀cd", 4, "ab…"},
		{"pair that fits is kept", "a😀bcd", 4, "a😀…"},
		{"BMP multi-byte runes count once", strings.Repeat("€", 6), 3, "€€…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := TruncateUTF16(tc.in, tc.max)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, UTF16Len(got), tc.max)
		})
	}
}
