package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		})
	}
}
