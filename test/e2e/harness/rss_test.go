package harness

import "testing"

func TestPeakRSS(t *testing.T) {
	tests := map[string]struct {
		status     string
		want       int64
		errMessage string
	}{
		"kB to bytes":  {status: "Name:\tdot-ai-controller\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40000 kB\n", want: 51200 << 10},
		"missing":      {status: "Name:\tx\nVmRSS:\t 1 kB\n", errMessage: "no VmHWM in /proc status"},
		"not a prefix": {status: "Name:\tx\nXVmHWM:\t 1 kB\n", errMessage: "no VmHWM in /proc status"},
		"garbled":      {status: "VmHWM:\t lots kB\n", errMessage: "VmHWM"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := peakRSS(tc.status)
			checkCase(t, tc.want, got, tc.errMessage, err)
		})
	}
}

func TestStatusKB(t *testing.T) {
	status := "Name:\tdot-ai-controller\nVmHWM:\t  125668 kB\nRssAnon:\t   57152 kB\nRssFile:\t   65944 kB\nRssShmem:\t       0 kB\n"
	tests := map[string]struct {
		field      string
		want       int64
		errMessage string
	}{
		"anonymous":   {field: "RssAnon", want: 57152 << 10},
		"file-backed": {field: "RssFile", want: 65944 << 10},
		"absent":      {field: "VmSwap", errMessage: "no VmSwap in /proc status"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := statusKB(status, tc.field)
			checkCase(t, tc.want, got, tc.errMessage, err)
		})
	}
}
