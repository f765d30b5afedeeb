// Package redact replaces secret-looking values in text the controller
// shows to people: log lines sent to dot-ai, condition messages. It is the
// one set of redaction rules.
package redact

import "regexp"

// Marker replaces a redacted value.
const Marker = "[REDACTED]"

var rules = []struct {
	re   *regexp.Regexp
	repl string
}{
	// Authorization: Bearer xyz / "authorization":"Basic xyz"
	{regexp.MustCompile(`(?i)((?:proxy-)?authorization["']?\s*[:=]\s*)("?)[^\s"',;]+(?:\s+[^\s"',;]+)?`), "${1}${2}" + Marker},
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}`), "${1} " + Marker},
	// password=..., api_key: ..., "clientSecret": "..."
	{regexp.MustCompile(`(?i)([a-z0-9_.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|session[_-]?id|cookie)[a-z0-9_.-]*["']?\s*[:=]\s*["']?)[^\s"',;&]+`), "${1}" + Marker},
	// JSON Web Tokens.
	{regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), Marker},
	// AWS access key ids, GitHub and Slack tokens.
	{regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{20,}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}`), Marker},
	// user:password@ in URLs.
	{regexp.MustCompile(`(://)[^/\s:@]+:[^/\s@]+@`), "${1}" + Marker + "@"},
}

// userinfo is any URL userinfo, a lone user name (often a token) included.
var userinfo = regexp.MustCompile(`(://)[^/\s?#@]+@`)

// Line replaces secret-looking values in one line of text.
func Line(s string) string {
	for _, r := range rules {
		if r.re.MatchString(s) {
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
