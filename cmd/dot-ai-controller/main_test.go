package main

import (
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/internal/config"
)

func TestParseFlags(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	tests := map[string]struct {
		args    []string
		wantErr string
	}{
		"defaults":               {},
		"stray argument":         {args: []string{"serve"}, wantErr: "unexpected arguments"},
		"unknown flag":           {args: []string{"--leader-elekt"}, wantErr: "not defined"},
		"drain exceeds shutdown": {args: []string{"--drain-timeout=60s", "--graceful-shutdown-timeout=30s"}, wantErr: "must be at least"},
		"invalid setting":        {args: []string{"--queue-size=0"}, wantErr: "QueueSize"},
		"negative memory limit":  {args: []string{"--memory-limit=-1"}, wantErr: "must not be negative"},
		"memory limit":           {args: []string{"--memory-limit=536870912"}},
		"gc percent":             {args: []string{"--gc-percent=100"}},
		"gc percent too low":     {args: []string{"--gc-percent=0"}, wantErr: "--gc-percent must be between 10 and 500"},
		"gc percent too high":    {args: []string{"--gc-percent=1000"}, wantErr: "--gc-percent must be between 10 and 500"},
		"watch stall timeout":    {args: []string{"--event-watch-stall-timeout=5m"}},
		"watch stall disabled":   {args: []string{"--event-watch-stall-timeout=0"}},
		"negative watch stall":   {args: []string{"--event-watch-stall-timeout=-1s"}, wantErr: "--event-watch-stall-timeout must not be negative"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := parseFlags(tc.args, noEnv)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.True(t, o.leaderElect)
			assert.Equal(t, 45*time.Second, o.gracefulShutdown)
			if len(tc.args) == 0 {
				assert.Equal(t, 12*time.Minute, o.watchStall, "a watch's longest lifetime plus two bookmark intervals")
			}
		})
	}
}

func TestMemoryLimitFromEnv(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "DOT_AI_MEMORY_LIMIT" {
			return "536870912", true
		}
		return "", false
	}
	o, err := parseFlags(nil, env)
	require.NoError(t, err)
	assert.Equal(t, int64(536870912), o.memoryLimit, "the chart passes limits.memory as DOT_AI_MEMORY_LIMIT")
}

func TestSoftMemoryLimit(t *testing.T) {
	tests := map[string]struct{ limit, want int64 }{
		"no limit": {0, 0},
		"512Mi":    {512 << 20, 483183819},
		"tiny":     {9, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, softMemoryLimit(tc.limit))
		})
	}
}

// TestListGC: while the watcher lists Events the collector's target is
// listGCPercent, then the configured one again; GOGC in the environment,
// or a target that low already, leaves it alone.
func TestListGC(t *testing.T) {
	t.Run("GOGC set", func(t *testing.T) {
		t.Setenv("GOGC", "80")
		assert.Nil(t, listGC(config.DefaultGCPercent))
	})
	t.Setenv("GOGC", "") // restored after the test
	require.NoError(t, os.Unsetenv("GOGC"))
	assert.Nil(t, listGC(listGCPercent), "already that low")
	f := listGC(config.DefaultGCPercent)
	require.NotNil(t, f)
	before := debug.SetGCPercent(config.DefaultGCPercent)
	defer debug.SetGCPercent(before)
	f(true)
	assert.Equal(t, listGCPercent, debug.SetGCPercent(listGCPercent), "while listing")
	f(false)
	assert.Equal(t, config.DefaultGCPercent, debug.SetGCPercent(config.DefaultGCPercent), "after the list")
}
