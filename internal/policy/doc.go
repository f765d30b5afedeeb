// Package policy owns the rules of a RemediationPolicy: Default fills what the
// user left empty from the chart's policyDefaults (decision 2 (docs/design/decisions.md#d2)), Validate
// reports every invalid field with its path plus warnings for risky settings,
// Compile turns a valid policy into matchers, and Resolve works out the
// setting in force for an event (selector → policy → installation default).
// The admission webhooks (internal/webhook) are thin adapters over it; the
// event watcher runs the same Validate on policies that reached the cluster
// without admission (decision 3 (docs/design/decisions.md#d3)).
package policy
