package notify

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"

	"dot-ai.io/controller/internal/text"
)

// ChatMessage is a Google Chat card v2 message, as typed structs (the service has no Go
// library for webhooks). developers.google.com/workspace/chat/api/reference/rest/v1/cards
type ChatMessage struct {
	Text    string     `json:"text,omitempty"`
	CardsV2 []chatCard `json:"cardsV2,omitempty"`
}

type chatCard struct {
	CardID string       `json:"cardId"`
	Card   chatCardBody `json:"card"`
}

type chatCardBody struct {
	Header   *chatHeader   `json:"header,omitempty"`
	Sections []chatSection `json:"sections"`
}

type chatHeader struct {
	Title    string `json:"title"`
	Subtitle string `json:"subtitle,omitempty"`
}

type chatSection struct {
	Header  string       `json:"header,omitempty"`
	Widgets []chatWidget `json:"widgets"`
}

type chatWidget struct {
	TextParagraph *chatText      `json:"textParagraph,omitempty"`
	DecoratedText *chatDecorated `json:"decoratedText,omitempty"`
}

type chatText struct {
	Text string `json:"text"`
}

type chatDecorated struct {
	TopLabel string `json:"topLabel,omitempty"`
	Text     string `json:"text"`
	WrapText bool   `json:"wrapText,omitempty"`
}

// Google Chat's limits: a message of at most 32,000 bytes (its JSON), a text
// of at most 4,096 characters. Widgets per card are bounded here too, so a
// card stays readable.
const (
	chatMaxMessageBytes = 32000
	chatMaxText         = 4000
	chatMaxTitle        = 200
	chatMaxWidgets      = 60
	chatMaxActions      = 20
	chatGroupItemText   = 600
)

// RenderGoogleChat builds the card message for m. Items are dropped from
// the end until the JSON fits the service's size limit; they are then
// counted as not listed.
func RenderGoogleChat(m *Message) *ChatMessage {
	if len(m.Items) == 1 && m.More == 0 {
		msg := chatItem(&m.Items[0], chatMaxText)
		// A huge single item: shorten every text until the JSON fits.
		for limit := chatMaxText / 2; chatSize(msg) > chatMaxMessageBytes && limit >= 100; limit /= 2 {
			msg = chatItem(&m.Items[0], limit)
		}
		return msg
	}
	listed := len(m.Items)
	for {
		msg := chatGroup(m, listed)
		if chatSize(msg) <= chatMaxMessageBytes || listed == 0 {
			return msg
		}
		listed--
	}
}

func chatSize(m *ChatMessage) int {
	b, _ := json.Marshal(m)
	return len(b)
}

// chatEscape makes s literal in Chat's HTML subset.
func chatEscape(s string, maxRunes int) string {
	return html.EscapeString(text.TruncateRunes(s, maxRunes))
}

func paragraph(s string) chatWidget { return chatWidget{TextParagraph: &chatText{Text: s}} }

func labelled(label, value string, limit int) chatWidget {
	return chatWidget{DecoratedText: &chatDecorated{TopLabel: label, Text: chatEscape(value, limit), WrapText: true}}
}

func chatItem(it *Item, limit int) *ChatMessage {
	var facts []chatWidget
	add := func(label, value string) {
		if value != "" {
			facts = append(facts, labelled(label, value, limit))
		}
	}
	add("Object", it.Object)
	add("Namespace", it.Namespace)
	add("Event", it.EventReason)
	add("Confidence", confidence(it))
	add("Risk", it.risk())
	add("Result", string(it.Outcome.Result))
	sections := []chatSection{{Widgets: facts}}
	if it.Phase == PhaseStart && it.EventMessage != "" {
		sections = append(sections, chatSection{Header: "Event message", Widgets: []chatWidget{paragraph(chatEscape(it.EventMessage, limit))}})
	}
	if rc := rootCause(it); rc != "" {
		sections = append(sections, chatSection{Header: "Root cause", Widgets: []chatWidget{paragraph(chatEscape(rc, limit))}})
	}
	if r := it.Report; r != nil {
		sections = append(sections, chatReport(r, limit)...)
	}
	if msg := it.Outcome.Message; msg != "" && it.Report == nil {
		sections = append(sections, chatSection{Header: "Details", Widgets: []chatWidget{paragraph(chatEscape(msg, limit))}})
	}
	var trailer []chatWidget
	if cmd := approveCommand(it); cmd != "" {
		trailer = append(trailer, labelled("Approve", cmd, limit))
	}
	if s := sessionID(it); s != "" {
		trailer = append(trailer, labelled("dot-ai session", s, limit))
	}
	trailer = append(trailer, labelled("Policy", it.Policy.String(), limit))
	sections = append(sections, chatSection{Widgets: trailer})
	t := title(it)
	return &ChatMessage{
		Text: chatEscape(t, chatMaxTitle),
		CardsV2: []chatCard{{CardID: "dot-ai", Card: chatCardBody{
			Header:   &chatHeader{Title: text.TruncateRunes(t, chatMaxTitle), Subtitle: text.TruncateRunes(it.Namespace, chatMaxTitle)},
			Sections: sections,
		}}},
	}
}

func chatReport(r *mcpResult, limit int) []chatSection {
	var out []chatSection
	if rem := r.Remediation; rem != nil {
		var ws []chatWidget
		if rem.Summary != "" {
			ws = append(ws, paragraph(chatEscape(rem.Summary, limit)))
		}
		for i, a := range rem.Actions {
			if i == chatMaxActions {
				ws = append(ws, paragraph(fmt.Sprintf("<i>…and %d more actions; see the dot-ai session</i>", len(rem.Actions)-i)))
				break
			}
			label := fmt.Sprintf("%d. %s", i+1, text.TruncateRunes(a.Description, chatMaxTitle))
			if a.Risk != "" {
				label += " (risk " + a.Risk + ")"
			}
			ws = append(ws, chatWidget{DecoratedText: &chatDecorated{
				TopLabel: text.TruncateRunes(label, chatMaxTitle),
				Text:     "<font color=\"#1a73e8\">" + chatEscape(a.Command, limit) + "</font>",
				WrapText: true,
			}})
		}
		if len(ws) > 0 {
			out = append(out, chatSection{Header: "Proposed remediation", Widgets: ws})
		}
	}
	if len(r.ExecutedCommands) > 0 {
		out = append(out, chatSection{Header: "Executed", Widgets: []chatWidget{
			paragraph(strings.ReplaceAll(chatEscape(strings.Join(r.ExecutedCommands, "\n"), limit), "\n", "<br>")),
		}})
	}
	if v := r.Validation; v != nil {
		verdict := "Validation passed"
		if !v.Success {
			verdict = "Validation failed"
		}
		out = append(out, chatSection{Header: verdict, Widgets: []chatWidget{paragraph(chatEscape(v.Summary, limit))}})
	}
	return out
}

func chatGroup(m *Message, listed int) *ChatMessage {
	var ws []chatWidget
	for i := range m.Items[:min(listed, chatMaxWidgets-1)] {
		it := &m.Items[i]
		line := "<b>" + chatEscape(title(it), chatMaxTitle) + "</b><br>" + chatEscape(it.Namespace, chatMaxTitle)
		if c := confidence(it); c != "" {
			line += " · confidence " + c
		}
		if rc := rootCause(it); rc != "" {
			line += "<br>" + chatEscape(rc, chatGroupItemText)
		}
		if s := sessionID(it); s != "" {
			line += "<br>session " + chatEscape(s, chatMaxTitle)
		}
		ws = append(ws, paragraph(line))
	}
	if more := m.Total() - len(ws); more > 0 {
		ws = append(ws, paragraph(fmt.Sprintf("<i>…and %d more not listed</i>", more)))
	}
	t := groupTitle(m)
	return &ChatMessage{
		Text: chatEscape(t, chatMaxTitle),
		CardsV2: []chatCard{{CardID: "dot-ai", Card: chatCardBody{
			Header:   &chatHeader{Title: text.TruncateRunes(t, chatMaxTitle)},
			Sections: []chatSection{{Widgets: ws}},
		}}},
	}
}
