package notify

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var goldenTime = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// messageKinds are the message kinds the golden files show, each for every
// destination kind.
func messageKinds() map[string]Message {
	remediated := item("e2")
	remediated.Mode = v1alpha1.ModeAutomatic
	remediated.Outcome.Result = v1alpha1.OutcomeRemediationSucceeded
	remediated.Outcome.McpStatus = "success"
	remediated.Report.Status = "success"
	remediated.Report.Executed = true
	remediated.Report.ExecutedCommands = []string{"kubectl -n team-a set env deployment/api --from=secret/api-db"}
	remediated.Report.Validation = &mcp.Validation{Success: true, Summary: "Deployment api is available with 3/3 ready replicas."}

	failed := item("e3")
	failed.Outcome = v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeDeliveryFailed, McpStatus: "EXECUTION_ERROR",
		Message: "dot-ai answered HTTP 500 EXECUTION_ERROR: Investigation failed: model timeout"}
	failed.Report = nil

	interrupted := item("e4")
	interrupted.Mode = v1alpha1.ModeAutomatic
	interrupted.Outcome = v1alpha1.RemediationOutcome{Result: v1alpha1.OutcomeInterrupted,
		Message: "The drain timeout cut off this automatic-mode call while it was in flight; the automatic remediation may have run and is not sent again. Check dot-ai's remediation for Idempotency-Key 0f1e2d3c4b5a69788796a5b4c3d2e1f0 (docs/delivery-guarantees.md#interrupted)"}
	interrupted.Report = nil

	start := item("e5")
	start.Phase = PhaseStart
	start.Outcome = v1alpha1.RemediationOutcome{}
	start.Report = nil

	approval := item("e6")
	approval.Record = "crashes-0f1e2d3c4b5a6978"

	group := Message{Items: []Item{item("g1"), remediated, failed}, More: 5}
	group.Items[0].Object = "Pod/api-7d9f-abcde"
	return map[string]Message{
		"analysis":    {Items: []Item{item("e1")}},
		"remediated":  {Items: []Item{remediated}},
		"failed":      {Items: []Item{failed}},
		"interrupted": {Items: []Item{interrupted}},
		"start":       {Items: []Item{start}},
		"approval":    {Items: []Item{approval}},
		"group":       group,
	}
}

// TestGoldenMessages pins every message kind for every destination kind.
// Run with -update and review the diff after a deliberate change.
func TestGoldenMessages(t *testing.T) {
	for name, m := range messageKinds() {
		for _, kind := range []policy.DestinationKind{policy.DestinationSlack, policy.DestinationGoogleChat, policy.DestinationWebhook} {
			t.Run(name+"/"+string(kind), func(t *testing.T) {
				m := m
				m.Policy, m.Kind = testPolicy, kind
				m.ID = messageID(&m)
				body, _, err := render(&m, goldenTime)
				require.NoError(t, err)
				var pretty any
				require.NoError(t, json.Unmarshal(body, &pretty))
				got, err := json.MarshalIndent(pretty, "", "  ")
				require.NoError(t, err)
				got = append(got, '\n')
				path := filepath.Join("testdata", fmt.Sprintf("%s.%s.json", name, kind))
				if *update {
					require.NoError(t, os.WriteFile(path, got, 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run `go test ./internal/notify/ -run TestGoldenMessages -update` to create it")
				require.Equal(t, string(want), string(got), "golden file %s is stale; rerun with -update and review the diff", path)
			})
		}
	}
}
