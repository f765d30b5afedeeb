package enricher

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"dot-ai.io/controller/internal/text"
)

// Bounds of the issue text's parts, in UTF-16 code units.
const (
	maxHeadlineUnits = 700
	maxLineUnits     = 240
	maxIssueEvents   = 6
	maxIssueLogLines = 12
	truncatedMarker  = "[…]"
)

var keyLogLine = regexp.MustCompile(`(?i)error|exception|panic|fatal|fail|refused|denied|killed|oom|out of memory|timeout|timed out|cannot|unable|invalid|no such|not found|traceback|segmentation`)

// Issue renders the compact human summary sent as dot-ai's issue: what
// failed, container states and exit reasons, the owner chain, recent related
// events and key log lines, in that order of importance. The result is at
// most limit UTF-16 code units (dot-ai's 2,000-character limit is counted
// that way) and is cut on a line boundary; no single line is longer than
// its bound.
func (c *Context) Issue(limit int) string {
	var b issueBuilder
	b.limit = limit
	ev := c.Event
	head := fmt.Sprintf("Kubernetes %s event %s on %s", orDash(ev.Type), orDash(ev.Reason), ev.InvolvedObject)
	if ev.Namespace != "" {
		head += " in namespace " + ev.Namespace
	}
	if ev.Count > 1 {
		head += fmt.Sprintf(" (seen %d times)", ev.Count)
	}
	head += ": " + ev.Message
	if !b.add(clip(head, maxHeadlineUnits)) {
		return b.String()
	}
	if len(c.OwnerChain) > 1 {
		b.add(clip("Owner chain: "+strings.Join(c.OwnerChain, " <- "), maxLineUnits))
	}
	for _, cs := range c.ContainerStatuses {
		if cs.Ready && cs.RestartCount == 0 && cs.LastReason == "" {
			continue
		}
		b.add(clip(containerLine(cs), maxLineUnits))
	}
	if len(c.RelatedEvents) > 0 {
		b.add("Recent related events (newest first):")
		for i, re := range c.RelatedEvents {
			if i == maxIssueEvents {
				b.add(fmt.Sprintf("- … %d more", len(c.RelatedEvents)-i))
				break
			}
			line := fmt.Sprintf("- %s %s %s", re.Type, re.Reason, re.InvolvedObject)
			if re.Count > 1 {
				line += fmt.Sprintf(" (x%d)", re.Count)
			}
			b.add(clip(line+": "+re.Message, maxLineUnits))
		}
	}
	for _, l := range c.Logs {
		key := keyLines(l.Lines, maxIssueLogLines)
		if len(key) == 0 {
			continue
		}
		title := "Log lines of container " + l.Container + " in pod " + l.Pod
		if l.Previous {
			title += " (previous instance)"
		}
		b.add(clip(title+":", maxLineUnits))
		for _, line := range key {
			b.add(clip("  "+line, maxLineUnits))
		}
	}
	for _, m := range c.Metrics {
		var parts []string
		for _, u := range m.Containers {
			parts = append(parts, fmt.Sprintf("%s cpu=%s memory=%s", u.Name, u.CPU, u.Memory))
		}
		b.add(clip("Usage of pod "+m.Pod+": "+strings.Join(parts, ", "), maxLineUnits))
	}
	if len(c.Notes) > 0 {
		b.add(clip("Not gathered: "+strings.Join(c.Notes, "; "), maxLineUnits))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func containerLine(cs ContainerState) string {
	kind := "Container"
	if cs.Init {
		kind = "Init container"
	}
	s := fmt.Sprintf("%s %s of pod %s: %s", kind, cs.Container, cs.Pod, orDash(cs.State))
	if cs.Reason != "" {
		s += " (" + cs.Reason + ")"
	}
	if cs.ExitCode != nil {
		s += fmt.Sprintf(" exit code %d", *cs.ExitCode)
	}
	s += fmt.Sprintf(", restarts %d", cs.RestartCount)
	if cs.LastReason != "" {
		s += ", last terminated: " + cs.LastReason
		if cs.LastExitCode != nil {
			s += fmt.Sprintf(" (exit code %d)", *cs.LastExitCode)
		}
	}
	if cs.Message != "" {
		s += "; " + cs.Message
	}
	return s
}

// keyLines picks up to n lines: those that look like errors among the
// newest lines, else the newest lines, in log order.
func keyLines(lines []string, n int) []string {
	var key []int
	for i := len(lines) - 1; i >= 0 && len(key) < n; i-- {
		if keyLogLine.MatchString(lines[i]) {
			key = append(key, i)
		}
	}
	if len(key) < n/2 {
		seen := map[int]bool{}
		for _, i := range key {
			seen[i] = true
		}
		for i := len(lines) - 1; i >= 0 && len(key) < n; i-- {
			if !seen[i] && strings.TrimSpace(lines[i]) != "" {
				key = append(key, i)
			}
		}
	}
	// Back to log order.
	out := make([]string, 0, len(key))
	for i := range lines {
		if slices.Contains(key, i) {
			out = append(out, lines[i])
		}
	}
	return out
}

type issueBuilder struct {
	sb    strings.Builder
	units int
	limit int
	full  bool
}

// add appends one line if it fits (keeping room for the truncation
// marker); once a line does not fit, the text ends with the marker.
func (b *issueBuilder) add(line string) bool {
	if b.full {
		return false
	}
	n := text.UTF16Len(line)
	sep := 0
	if b.units > 0 {
		sep = 1
	}
	reserve := text.UTF16Len(truncatedMarker) + 1
	if b.units+sep+n+reserve > b.limit {
		b.full = true
		if b.units+sep+text.UTF16Len(truncatedMarker) <= b.limit {
			if sep == 1 {
				b.sb.WriteByte('\n')
			}
			b.sb.WriteString(truncatedMarker)
			b.units += sep + text.UTF16Len(truncatedMarker)
		}
		return false
	}
	if sep == 1 {
		b.sb.WriteByte('\n')
	}
	b.sb.WriteString(line)
	b.units += sep + n
	return true
}

func (b *issueBuilder) String() string { return b.sb.String() }

// clip makes s one clean line of at most limit UTF-16 code units: invalid
// UTF-8 and control characters are replaced, a cut ends in "…".
func clip(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError:
			return '\uFFFD'
		case r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029':
			return ' '
		}
		return r
	}, s)
	return text.TruncateUTF16(s, limit)
}
