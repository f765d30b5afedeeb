// Package redact replaces secret-looking values in text the controller
// shows to people: log lines sent to dot-ai, condition messages. It is the
// one set of redaction rules.
package redact

import (
	"regexp"
	"strings"
)

// Marker replaces a redacted value.
const Marker = "[REDACTED]"

// rules are the redactions. A rule's needles are lower-case strings one of
// which every ASCII line it matches contains (with ":=", also one of those
// bytes): most log lines contain none, and skipping the regexp for them is
// what keeps redaction cheap (the key=value rule backtracks on every
// position of a line otherwise; it was 40 % of the controller's CPU in
// make bench-enrich). Lines with other bytes get every rule, since
// case-insensitive matching folds some non-ASCII letters (ſ, K) into ASCII.
var rules = []struct {
	re      *regexp.Regexp
	repl    string
	needles []string
	sep     bool // the match contains ':' or '='
}{
	// Authorization: Bearer xyz / "authorization":"Basic xyz"
	{regexp.MustCompile(`(?i)((?:proxy-)?authorization["']?\s*[:=]\s*)("?)[^\s"',;]+(?:\s+[^\s"',;]+)?`), "${1}${2}" + Marker,
		[]string{"authorization"}, true},
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}`), "${1} " + Marker, []string{"bearer", "basic"}, false},
	// password=..., api_key: ..., "clientSecret": "..."
	{regexp.MustCompile(`(?i)([a-z0-9_.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|session[_-]?id|cookie)[a-z0-9_.-]*["']?\s*[:=]\s*["']?)[^\s"',;&]+`), "${1}" + Marker,
		[]string{"passw", "pwd", "secret", "token", "key", "credential", "session", "cookie"}, true},
	// JSON Web Tokens.
	{regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), Marker, []string{"eyj"}, false},
	// AWS access key ids, GitHub and Slack tokens.
	{regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{20,}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}`), Marker,
		[]string{"akia", "asia", "gh", "xox"}, false},
	// user:password@ in URLs.
	{regexp.MustCompile(`(://)[^/\s:@]+:[^/\s@]+@`), "${1}" + Marker + "@", []string{"://"}, false},
}

// mayMatch reports whether rule i can match s, lower the ASCII line s in
// lower case ("" when s is not ASCII: every rule may match).
func mayMatch(i int, s, lower string) bool {
	if lower == "" {
		return true
	}
	r := &rules[i]
	if r.sep && !strings.ContainsAny(s, ":=") {
		return false
	}
	for _, n := range r.needles {
		if strings.Contains(lower, n) {
			return true
		}
	}
	return false
}

// asciiLower is s in lower case, or "" when s has a non-ASCII byte.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return ""
		}
	}
	return strings.ToLower(s)
}

// userinfo is any URL userinfo, a lone user name (often a token) included.
var userinfo = regexp.MustCompile(`(://)[^/\s?#@]+@`)

// Line replaces secret-looking values in one line of text.
func Line(s string) string {
	lower := asciiLower(s)
	for i, r := range rules {
		if mayMatch(i, s, lower) && r.re.MatchString(s) {
			s = r.re.ReplaceAllString(s, r.repl)
		}
	}
	return s
}

// Message is Line plus the removal of every URL userinfo: for messages the
// controller writes itself (conditions), where no user name is worth
// showing. Logs sent to dot-ai keep a user name such as git@ for context.
func Message(s string) string {
	return userinfo.ReplaceAllString(Line(s), "${1}"+Marker+"@")
}
