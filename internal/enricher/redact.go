package enricher

import (
	"regexp"
	"strings"
)

// Redacted replaces secret values in logs and specs.
const Redacted = "[REDACTED]"

var redactions = []struct {
	re   *regexp.Regexp
	repl string
}{
	// Authorization: Bearer xyz / "authorization":"Basic xyz"
	{regexp.MustCompile(`(?i)((?:proxy-)?authorization["']?\s*[:=]\s*)("?)[^\s"',;]+(?:\s+[^\s"',;]+)?`), "${1}${2}" + Redacted},
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}`), "${1} " + Redacted},
	// password=..., api_key: ..., "clientSecret": "..."
	{regexp.MustCompile(`(?i)([a-z0-9_.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|session[_-]?id|cookie)[a-z0-9_.-]*["']?\s*[:=]\s*["']?)[^\s"',;&]+`), "${1}" + Redacted},
	// JSON Web Tokens.
	{regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), Redacted},
	// AWS access key ids, GitHub and Slack tokens.
	{regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{20,}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}`), Redacted},
	// user:password@ in URLs.
	{regexp.MustCompile(`(://)[^/\s:@]+:[^/\s@]+@`), "${1}" + Redacted + "@"},
}

// redactor redacts secret-looking content line by line; it remembers
// whether it is inside a PEM block.
type redactor struct {
	inPEM bool
}

// line returns the redacted line, and false when the line is dropped
// (inside a PEM block, which is replaced by one marker line).
func (r *redactor) line(s string) (string, bool) {
	if r.inPEM {
		if strings.Contains(s, "-----END ") {
			r.inPEM = false
		}
		return "", false
	}
	if i := strings.Index(s, "-----BEGIN "); i >= 0 {
		if !strings.Contains(s[i:], "-----END ") {
			r.inPEM = true
		}
		return s[:i] + "[REDACTED PEM block]", true
	}
	return RedactLine(s), true
}

// RedactLine replaces secret-looking values in one line.
func RedactLine(s string) string {
	for _, rd := range redactions {
		if rd.re.MatchString(s) {
			s = rd.re.ReplaceAllString(s, rd.repl)
		}
	}
	return s
}
