package notify

import (
	"fmt"
	"strings"

	"unicode/utf8"

	"github.com/slack-go/slack"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/text"
)

// Slack's Block Kit limits (api.slack.com/reference/block-kit): a message
// holds at most 50 blocks; a section's text at most 3,000 characters, each
// of its at most 10 fields 2,000; a header 150; a context at most 10
// elements.
const (
	slackMaxBlocks       = 50
	slackMaxSectionText  = 3000
	slackMaxFieldText    = 2000
	slackMaxFields       = 10
	slackMaxHeaderText   = 150
	slackMaxContextElems = 10
	// slackMaxActions bounds the proposed actions listed; the rest are
	// counted in a line.
	slackMaxActions = 20
	// slackGroupItemText bounds one item's text in a grouped message.
	slackGroupItemText = 600
)

// slackBlocks collects blocks up to a budget, keeping room for a trailer.
type slackBlocks struct {
	blocks []slack.Block
	limit  int
}

func (b *slackBlocks) add(bl slack.Block) bool {
	if len(b.blocks) >= b.limit {
		return false
	}
	b.blocks = append(b.blocks, bl)
	return true
}

func (b *slackBlocks) room() int { return b.limit - len(b.blocks) }

// RenderSlack builds the Block Kit message for m.
func RenderSlack(m *Message) *slack.WebhookMessage {
	var blocks []slack.Block
	head := groupTitle(m)
	if len(m.Items) == 1 && m.More == 0 {
		head = title(&m.Items[0])
		blocks = slackItem(&m.Items[0])
	} else {
		blocks = slackGroup(m)
	}
	return &slack.WebhookMessage{
		Text:   text.TruncateRunes(head, slackMaxSectionText),
		Blocks: &slack.Blocks{BlockSet: blocks},
	}
}

func slackItem(it *Item) []slack.Block {
	// Two blocks stay for the approve command and the context line.
	b := &slackBlocks{limit: slackMaxBlocks - 2}
	b.add(slack.NewHeaderBlock(plain(title(it), slackMaxHeaderText)))
	var fields []*slack.TextBlockObject
	field := func(name, value string) {
		if value != "" && len(fields) < slackMaxFields {
			fields = append(fields, md("*"+escape(name)+"*\n"+escape(value), slackMaxFieldText))
		}
	}
	field("Object", it.Object)
	field("Namespace", it.Namespace)
	field("Event", it.EventReason)
	field("Policy", it.Policy.String())
	field("Mode", string(it.Mode))
	field("Confidence", confidence(it))
	field("Risk", it.risk())
	field("Result", string(it.Outcome.Result))
	b.add(slack.NewSectionBlock(nil, fields, nil))
	if it.Phase == PhaseStart && it.EventMessage != "" {
		b.add(section("*Event message*\n" + escape(it.EventMessage)))
	}
	if rc := rootCause(it); rc != "" {
		b.add(section("*Root cause*\n" + escape(rc)))
	}
	if r := it.Report; r != nil {
		slackReport(b, r)
	}
	if msg := it.Outcome.Message; msg != "" && (it.Report == nil || it.Outcome.Result != v1alpha1.OutcomeAnalysisCompleted) {
		b.add(section("*Details*\n" + escape(msg)))
	}
	b.limit = slackMaxBlocks
	if cmd := approveCommand(it); cmd != "" {
		b.add(section("*Approve*\n" + code(cmd, slackMaxSectionText-20)))
	}
	var ctx []slack.MixedElement
	if s := sessionID(it); s != "" {
		ctx = append(ctx, md("dot-ai session `"+escape(s)+"`", slackMaxSectionText))
	}
	ctx = append(ctx, md("policy "+escape(it.Policy.String()), slackMaxSectionText))
	b.add(slack.NewContextBlock("", ctx...))
	return b.blocks
}

// slackReport adds dot-ai's proposal, what it executed and the validation,
// keeping two blocks for the execution and validation when actions are
// many.
func slackReport(b *slackBlocks, r *mcpResult) {
	if rem := r.Remediation; rem != nil {
		if rem.Summary != "" {
			b.add(section("*Proposed remediation*\n" + escape(rem.Summary)))
		}
		reserve := 1 // the "more actions" line
		if len(r.ExecutedCommands) > 0 {
			reserve++
		}
		if r.Validation != nil {
			reserve++
		}
		shown := 0
		for i, a := range rem.Actions {
			if shown == slackMaxActions || b.room() <= reserve {
				break
			}
			head := fmt.Sprintf("*%d.* %s", i+1, escape(a.Description))
			if a.Risk != "" {
				head += " _(risk " + escape(a.Risk) + ")_"
			}
			body := head
			if a.Command != "" {
				// The command keeps at least a third of the section.
				head = truncateMrkdwn(head, slackMaxSectionText/3*2)
				body = head + "\n" + code(a.Command, slackMaxSectionText-len([]rune(head))-1)
			}
			b.add(section(body))
			shown++
		}
		if rest := len(rem.Actions) - shown; rest > 0 {
			b.add(section(fmt.Sprintf("_…and %d more actions; see the dot-ai session_", rest)))
		}
	}
	if len(r.ExecutedCommands) > 0 {
		b.add(section("*Executed*\n" + code(strings.Join(r.ExecutedCommands, "\n"), slackMaxSectionText-20)))
	}
	if v := r.Validation; v != nil {
		mark := ":white_check_mark: passed"
		if !v.Success {
			mark = ":x: failed"
		}
		b.add(section("*Validation* " + mark + "\n" + escape(v.Summary)))
	}
}

func slackGroup(m *Message) []slack.Block {
	b := &slackBlocks{limit: slackMaxBlocks - 1}
	b.add(slack.NewHeaderBlock(plain(groupTitle(m), slackMaxHeaderText)))
	listed := 0
	for i := range m.Items {
		it := &m.Items[i]
		line := "*" + escape(title(it)) + "*\n" + escape(it.Namespace)
		if c := confidence(it); c != "" {
			line += " · confidence " + c
		}
		if r := it.risk(); r != "" {
			line += " · risk " + escape(r)
		}
		if rc := rootCause(it); rc != "" {
			line += "\n" + escape(rc)
		}
		if s := sessionID(it); s != "" {
			line += "\nsession `" + escape(s) + "`"
		}
		if !b.add(section(truncateMrkdwn(line, slackGroupItemText))) {
			break
		}
		listed++
	}
	b.limit = slackMaxBlocks
	if more := m.Total() - listed; more > 0 {
		b.add(slack.NewContextBlock("", md(fmt.Sprintf("…and %d more not listed", more), slackMaxSectionText)))
	}
	return b.blocks
}

func plain(s string, maxRunes int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, text.TruncateRunes(s, maxRunes), false, false)
}

func md(s string, maxRunes int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, truncateMrkdwn(s, maxRunes), false, false)
}

func section(s string) *slack.SectionBlock {
	return slack.NewSectionBlock(md(s, slackMaxSectionText), nil, nil)
}

// escape makes s literal in Slack mrkdwn: &, < and > are its control
// characters.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escape(s string) string { return slackEscaper.Replace(s) }

// truncateMrkdwn cuts escaped mrkdwn to maxRunes without leaving half an
// entity or an unclosed code block: it tries room for the ellipsis alone,
// then for the ellipsis and a closing fence.
func truncateMrkdwn(s string, maxRunes int) string {
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	var cut string
	for _, room := range []int{1, 4} {
		cut = strings.TrimSuffix(text.TruncateRunes(s, maxRunes-room+1), text.Ellipsis)
		if amp := strings.LastIndexByte(cut, '&'); amp >= 0 && !strings.Contains(cut[amp:], ";") {
			cut = cut[:amp]
		}
		cut = strings.TrimRight(cut, "`")
		if strings.Count(cut, "```")%2 == 0 {
			return cut + text.Ellipsis
		}
	}
	return cut + text.Ellipsis + "```"
}

// code formats commands as a code block of at most maxRunes runes; a
// command cannot close the block early.
func code(cmd string, maxRunes int) string {
	cmd = strings.ReplaceAll(escape(cmd), "```", "`\u200b``")
	return truncateMrkdwn("```"+cmd+"```", maxRunes)
}
