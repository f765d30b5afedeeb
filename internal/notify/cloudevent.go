package notify

import (
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/text"
)

// CloudEvents types and source of the controller's notifications.
const (
	// EventTypeNotification is the type of every notification event; its
	// data lists the items.
	EventTypeNotification = "io.dot-ai.controller.notification.v1"
	ceMaxText             = 4000
)

// ceData is the event's data: the message's items, the first listed and
// the rest counted.
type ceData struct {
	Policy   string   `json:"policy"`
	Total    int      `json:"total"`
	NotShown int      `json:"notShown,omitempty"`
	Items    []ceItem `json:"items"`
}

type ceItem struct {
	// Key is the event occurrence's idempotency key: a receiver can tell
	// an item it already has.
	Key              string                 `json:"key,omitempty"`
	Phase            Phase                  `json:"phase"`
	Title            string                 `json:"title"`
	Namespace        string                 `json:"namespace,omitempty"`
	Object           string                 `json:"object,omitempty"`
	EventReason      string                 `json:"eventReason,omitempty"`
	Mode             string                 `json:"mode,omitempty"`
	Result           v1alpha1.OutcomeResult `json:"result,omitempty"`
	RootCause        string                 `json:"rootCause,omitempty"`
	Confidence       float64                `json:"confidence,omitempty"`
	Risk             string                 `json:"risk,omitempty"`
	Actions          []ceAction             `json:"actions,omitempty"`
	ExecutedCommands []string               `json:"executedCommands,omitempty"`
	Validation       *ceValidation          `json:"validation,omitempty"`
	Message          string                 `json:"message,omitempty"`
	SessionID        string                 `json:"sessionId,omitempty"`
	Record           string                 `json:"record,omitempty"`
	ApproveCommand   string                 `json:"approveCommand,omitempty"`
}

type ceAction struct {
	Description string `json:"description,omitempty"`
	Command     string `json:"command,omitempty"`
	Risk        string `json:"risk,omitempty"`
}

type ceValidation struct {
	Success bool   `json:"success"`
	Summary string `json:"summary,omitempty"`
}

// ceMaxActions bounds the actions of one item.
const ceMaxActions = 50

// RenderCloudEvent builds the CloudEvents 1.0 event for m; it is sent in
// structured mode (application/cloudevents+json).
func RenderCloudEvent(m *Message, now time.Time) (cloudevents.Event, error) {
	e := cloudevents.NewEvent(cloudevents.VersionV1)
	e.SetID(m.ID)
	e.SetType(EventTypeNotification)
	e.SetSource(fmt.Sprintf("/apis/%s/namespaces/%s/remediationpolicies/%s", v1alpha1.GroupVersion, m.Policy.Namespace, m.Policy.Name))
	e.SetTime(now)
	if len(m.Items) == 1 && m.More == 0 {
		e.SetSubject(m.Items[0].Namespace + "/" + m.Items[0].Object)
	}
	data := ceData{Policy: m.Policy.String(), Total: m.Total(), NotShown: m.More}
	for i := range m.Items {
		data.Items = append(data.Items, ceItemOf(&m.Items[i]))
	}
	err := e.SetData(cloudevents.ApplicationJSON, data)
	return e, err
}

func ceItemOf(it *Item) ceItem {
	short := func(s string) string { return text.TruncateRunes(s, ceMaxText) }
	out := ceItem{
		Key: it.Key, Phase: it.Phase, Title: short(title(it)), Namespace: it.Namespace, Object: it.Object,
		EventReason: it.EventReason, Mode: string(it.Mode), Result: it.Outcome.Result,
		RootCause: short(rootCause(it)), Risk: it.risk(), Message: short(it.Outcome.Message),
		SessionID: sessionID(it), Record: it.Record, ApproveCommand: approveCommand(it),
	}
	if r := it.Report; r != nil {
		if r.Analysis != nil {
			out.Confidence = r.Analysis.Confidence
		}
		if r.Remediation != nil {
			for _, a := range r.Remediation.Actions[:min(len(r.Remediation.Actions), ceMaxActions)] {
				out.Actions = append(out.Actions, ceAction{Description: short(a.Description), Command: short(a.Command), Risk: a.Risk})
			}
		}
		for _, c := range r.ExecutedCommands[:min(len(r.ExecutedCommands), ceMaxActions)] {
			out.ExecutedCommands = append(out.ExecutedCommands, short(c))
		}
		if v := r.Validation; v != nil {
			out.Validation = &ceValidation{Success: v.Success, Summary: short(v.Summary)}
		}
	}
	return out
}
