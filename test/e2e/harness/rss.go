package harness

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSS is the binary's peak resident set size (VmHWM) in bytes while it
// runs.
func (c *Controller) PeakRSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.PID()))
	if err != nil {
		return 0, err
	}
	return peakRSS(string(data))
}

// RSSParts is the binary's resident memory now, in bytes: anonymous (heap,
// stacks, the Go runtime) and file-backed (the executable's pages the
// kernel mapped, clean and shared with the page cache).
func (c *Controller) RSSParts() (anon, file int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.PID()))
	if err != nil {
		return 0, 0, err
	}
	if anon, err = statusKB(string(data), "RssAnon"); err != nil {
		return 0, 0, err
	}
	file, err = statusKB(string(data), "RssFile")
	return anon, file, err
}

// peakRSS reads VmHWM (in kB) from a /proc/<pid>/status text, in bytes.
func peakRSS(status string) (int64, error) { return statusKB(status, "VmHWM") }

// statusKB reads field (in kB) from a /proc/<pid>/status text, in bytes.
func statusKB(status, field string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %q: %w", field, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no " + field + " in /proc status")
}
