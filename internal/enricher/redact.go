package enricher

import (
	"strings"

	"dot-ai.io/controller/internal/redact"
)

// Redacted replaces secret values in logs and specs.
const Redacted = redact.Marker

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
func RedactLine(s string) string { return redact.Line(s) }
