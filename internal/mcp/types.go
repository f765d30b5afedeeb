// Package mcp is the HTTP client of the dot-ai remediate tool
// (POST <base>/api/v1/tools/remediate). It sends one request per event
// occurrence, retries only what is safe to retry, keeps a circuit breaker per
// endpoint and decodes dot-ai's response envelope.
package mcp

import "encoding/json"

// MaxIssueUTF16 is dot-ai's limit for the issue field, counted in UTF-16
// code units as the server counts it.
const MaxIssueUTF16 = 2000

// Request is the remediate request body: dot-ai's own fields plus the
// product spec's structured context, which dot-ai ignores (it drops unknown
// keys) and other servers may read.
type Request struct {
	// Issue is the compact human summary, at most MaxIssueUTF16 code units.
	// An execute call (SessionID and ExecuteChoice) carries none.
	Issue string `json:"issue,omitempty"`
	// Mode is manual or automatic.
	Mode string `json:"mode,omitempty"`
	// SessionID and ExecuteChoice make the call that executes a proposal of
	// an earlier manual-mode analysis (choice 1: execute through MCP).
	SessionID     string `json:"sessionId,omitempty"`
	ExecuteChoice int    `json:"executeChoice,omitempty"`
	// ConfidenceThreshold and MaxRiskLevel are sent in automatic mode only.
	ConfidenceThreshold *float64 `json:"confidenceThreshold,omitempty"`
	MaxRiskLevel        string   `json:"maxRiskLevel,omitempty"`
	// Context is the structured enrichment (event, logs, podSpec or
	// resource, relatedEvents, metrics).
	Context any `json:"context,omitempty"`
	// Policy is the name of the RemediationPolicy that selected the event
	// (the product spec's field); PolicyRef names it fully.
	Policy    string     `json:"policy,omitempty"`
	PolicyRef *PolicyRef `json:"policyRef,omitempty"`
}

// PolicyRef names a RemediationPolicy.
type PolicyRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Envelope is dot-ai's response envelope, for success and error alike.
type Envelope struct {
	Success *bool      `json:"success"`
	Data    *Data      `json:"data,omitempty"`
	Error   *ErrorBody `json:"error,omitempty"`
	Meta    *Meta      `json:"meta,omitempty"`
}

// Data is the envelope's data of a successful call.
type Data struct {
	Result        *Result `json:"result,omitempty"`
	Tool          string  `json:"tool,omitempty"`
	ExecutionTime float64 `json:"executionTime,omitempty"`
}

// Meta is the envelope's metadata.
type Meta struct {
	Timestamp string `json:"timestamp,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	Version   string `json:"version,omitempty"`
}

// ErrorBody is the envelope's error of a failed call.
type ErrorBody struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details,omitempty"`
}

// Result is data.result of the remediate tool.
type Result struct {
	Status           string          `json:"status,omitempty"`
	SessionID        string          `json:"sessionId,omitempty"`
	Executed         bool            `json:"executed"`
	Mode             string          `json:"mode,omitempty"`
	Analysis         *Analysis       `json:"analysis,omitempty"`
	Remediation      *Remediation    `json:"remediation,omitempty"`
	FallbackReason   string          `json:"fallbackReason,omitempty"`
	Validation       *Validation     `json:"validation,omitempty"`
	Results          []ActionResult  `json:"results,omitempty"`
	ExecutedCommands []string        `json:"executedCommands,omitempty"`
	Message          string          `json:"message,omitempty"`
	Guidance         string          `json:"guidance,omitempty"`
	ValidationIntent string          `json:"validationIntent,omitempty"`
	Investigation    json.RawMessage `json:"investigation,omitempty"`
	ExecutionChoices json.RawMessage `json:"executionChoices,omitempty"`
	PullRequest      json.RawMessage `json:"pullRequest,omitempty"`
}

// Analysis is dot-ai's root-cause analysis.
type Analysis struct {
	RootCause  string   `json:"rootCause,omitempty"`
	Confidence float64  `json:"confidence,omitempty"`
	Factors    []string `json:"factors,omitempty"`
}

// Remediation is the remediation dot-ai proposes or executed.
type Remediation struct {
	Summary string   `json:"summary,omitempty"`
	Risk    string   `json:"risk,omitempty"`
	Actions []Action `json:"actions,omitempty"`
}

// Action is one proposed remediation step.
type Action struct {
	Description string `json:"description,omitempty"`
	Command     string `json:"command,omitempty"`
	Risk        string `json:"risk,omitempty"`
	Rationale   string `json:"rationale,omitempty"`
}

// Validation is dot-ai's check after executing a remediation.
type Validation struct {
	Success bool   `json:"success"`
	Summary string `json:"summary,omitempty"`
}

// ActionResult is the result of one executed action.
type ActionResult struct {
	Action    string `json:"action,omitempty"`
	Success   bool   `json:"success"`
	Output    string `json:"output,omitempty"`
	Error     string `json:"error,omitempty"`
	Timestamp string `json:"timestamp,omitempty"`
}
