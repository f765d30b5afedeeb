package dotai

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/text"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGoldenPayloads pins the request body sent for typical events.
func TestGoldenPayloads(t *testing.T) {
	for name, s := range scenarios() {
		t.Run(name, func(t *testing.T) {
			body := BuildRequest(s.req, s.enricher().Enrich(context.Background(), s.req.Event, s.req.Effective.Context))
			got, err := json.MarshalIndent(body, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./internal/delivery/dotai -run TestGoldenPayloads -update")
			assert.Equal(t, string(want), string(got))

			assert.LessOrEqual(t, text.UTF16Len(body.Issue), mcp.MaxIssueUTF16)
			assert.Contains(t, body.Issue, s.req.Event.Reason)
			assert.NotContains(t, string(got), "hunter2", "secrets never leave")
			assert.NotContains(t, string(got), "eyJzdWIiOiJ3ZWIifQ")
			assert.NotContains(t, string(got), "managedFields")
			if body.Mode == "automatic" {
				assert.NotNil(t, body.ConfidenceThreshold)
				assert.NotEmpty(t, body.MaxRiskLevel)
			} else {
				assert.Nil(t, body.ConfidenceThreshold, "thresholds only in automatic mode")
				assert.Empty(t, body.MaxRiskLevel)
			}
			assert.False(t, strings.Contains(body.Issue, "CrashLoopBackOff event"), "CrashLoopBackOff is never an event reason")
		})
	}
}
