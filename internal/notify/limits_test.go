package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/policy"
)

// huge returns an item with every text far over every limit: non-ASCII
// (including 4-byte runes and characters Slack escapes), 50 actions with
// long commands containing code fences, and many executed commands.
func huge(key string) Item {
	it := item(key)
	long := strings.Repeat("Ünïcødé 日本語 🚀 <b>&amp; ```x``` ", 2000)
	it.Object = "Pod/" + strings.Repeat("ä", 300)
	it.EventReason = strings.Repeat("Back", 100)
	it.EventMessage = long
	it.Outcome.RootCause = long
	it.Outcome.Message = long
	it.Record = strings.Repeat("r", 300)
	it.Report.Analysis.RootCause = long
	it.Report.Remediation.Summary = long
	it.Report.Remediation.Actions = nil
	for i := range 50 {
		it.Report.Remediation.Actions = append(it.Report.Remediation.Actions, mcp.Action{
			Description: fmt.Sprintf("Action %d: %s", i, long), Command: "kubectl patch " + long, Risk: "medium",
		})
	}
	for range 40 {
		it.Report.ExecutedCommands = append(it.Report.ExecutedCommands, "kubectl apply -f - <<EOF\n"+long)
	}
	it.Report.Validation = &mcp.Validation{Summary: long}
	return it
}

// TestSlackWithinBlockKitLimits: whatever the input, a rendered Slack
// message keeps Block Kit's limits, valid UTF-8 and balanced code fences.
func TestSlackWithinBlockKitLimits(t *testing.T) {
	many := make([]Item, 0, 100)
	for i := range 100 {
		many = append(many, huge(fmt.Sprint(i)))
	}
	tests := map[string]Message{
		"one huge item":       {Items: []Item{huge("h")}},
		"huge group":          {Items: many, More: 100000},
		"one huge start item": {Items: []Item{func() Item { it := huge("s"); it.Phase = PhaseStart; return it }()}},
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			m.Policy, m.Kind = testPolicy, policy.DestinationSlack
			msg := RenderSlack(&m)
			blocks := msg.Blocks.BlockSet
			require.LessOrEqual(t, len(blocks), slackMaxBlocks)
			checkText := func(where string, o *slack.TextBlockObject, limit int) {
				if o == nil {
					return
				}
				assert.True(t, utf8.ValidString(o.Text), where)
				assert.LessOrEqual(t, utf8.RuneCountInString(o.Text), limit, where)
				if o.Type == slack.MarkdownType {
					assert.Zero(t, strings.Count(o.Text, "```")%2, "%s: unbalanced code fence", where)
				}
			}
			for i, b := range blocks {
				where := fmt.Sprintf("block %d", i)
				switch b := b.(type) {
				case *slack.HeaderBlock:
					checkText(where, b.Text, slackMaxHeaderText)
				case *slack.SectionBlock:
					checkText(where, b.Text, slackMaxSectionText)
					assert.LessOrEqual(t, len(b.Fields), slackMaxFields, where)
					for _, f := range b.Fields {
						checkText(where+" field", f, slackMaxFieldText)
					}
				case *slack.ContextBlock:
					assert.LessOrEqual(t, len(b.ContextElements.Elements), slackMaxContextElems, where)
					for _, e := range b.ContextElements.Elements {
						if o, ok := e.(*slack.TextBlockObject); ok {
							checkText(where+" context", o, slackMaxSectionText)
						}
					}
				default:
					t.Errorf("%s: unexpected block type %T", where, b)
				}
			}
			assert.LessOrEqual(t, utf8.RuneCountInString(msg.Text), slackMaxSectionText)
			// The message says what it could not show.
			body, err := json.Marshal(msg)
			require.NoError(t, err)
			assert.Contains(t, string(body), "more")
		})
	}
}

// TestGoogleChatWithinLimits: the card JSON stays under Google Chat's
// message size, each text under its text limit.
func TestGoogleChatWithinLimits(t *testing.T) {
	many := make([]Item, 0, 40)
	for i := range 40 {
		many = append(many, huge(fmt.Sprint(i)))
	}
	for name, m := range map[string]Message{"one huge item": {Items: []Item{huge("h")}}, "huge group": {Items: many, More: 7}} {
		t.Run(name, func(t *testing.T) {
			m.Policy, m.Kind = testPolicy, policy.DestinationGoogleChat
			msg := RenderGoogleChat(&m)
			body, err := json.Marshal(msg)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(body), chatMaxMessageBytes)
			assert.True(t, utf8.Valid(body))
			require.Len(t, msg.CardsV2, 1)
			for _, sec := range msg.CardsV2[0].Card.Sections {
				for _, w := range sec.Widgets {
					if w.TextParagraph != nil {
						assert.LessOrEqual(t, utf8.RuneCountInString(w.TextParagraph.Text), 6*chatMaxText) // escaped entities
					}
				}
			}
		})
	}
}

func TestTruncateMrkdwn(t *testing.T) {
	tests := map[string]struct {
		in   string
		max  int
		want string
	}{
		"fits":               {"abc", 10, "abc"},
		"plain cut":          {"abcdefghij", 8, "abcdefg…"},
		"whole entity kept":  {"ab&amp;cdefgh", 8, "ab&amp;…"},
		"no half entity":     {"ab&amp;cdefgh", 6, "ab…"},
		"open fence closed":  {"```abcdefghijkl```", 12, "```abcde…```"},
		"fence not split":    {"abcdef``` ```", 10, "abcdef…"},
		"multibyte boundary": {"ééééééééé", 6, "ééééé…"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := truncateMrkdwn(tc.in, tc.max)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, utf8.RuneCountInString(got), tc.max)
		})
	}
}
